"""Printing for a terminal or a pipe: width, colour, one-line cells, ellipses, tables
(rich tables: :func:`table_lines`).

Everything here measures text in terminal columns with rich (a wide East Asian
character takes two), strips control characters from what the MDM sent, and colours
only when asked, through rich's styles.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from rich.cells import cell_len, set_cell_size
from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from rich.table import Table
from rich.text import Text

from monitor.clock import format_age
from monitor.log import redact
from monitor.sources.lenient import one_line

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

#: The ``version`` of the JSON documents; it changes only when a key changes meaning.
JSON_VERSION = 1
DEFAULT_WIDTH = 80



@dataclass(frozen=True, slots=True)
class Terminal:
    """How to print for one stream: its width, and whether to colour.

    Colour only on a terminal, and never with ``NO_COLOR`` set (no-color.org). The
    width is the terminal's, else ``COLUMNS``, else 80, so piped output is predictable.
    """

    width: int = DEFAULT_WIDTH
    color: bool = False

    @classmethod
    def for_stream(cls, stream: TextIO, environ: Mapping[str, str] | None = None) -> Terminal:
        """The settings that suit ``stream``."""
        env = os.environ if environ is None else environ
        tty = isatty(stream)
        width = DEFAULT_WIDTH
        if tty:
            try:
                width = os.get_terminal_size(stream.fileno()).columns
            except (OSError, ValueError):
                width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
            width = width or DEFAULT_WIDTH  # a pseudo-terminal with no size set says 0
        elif env.get("COLUMNS", "").isdigit():
            width = int(env["COLUMNS"])
        return cls(width=max(40, width), color=tty and not env.get("NO_COLOR"))

    def paint(self, text: str, *styles: str) -> str:
        """``text`` in the given styles (``bold``, ``red``...), when colouring."""
        if not self.color or not styles or not text:
            return text
        return Style.parse(" ".join(styles)).render(text, color_system=ColorSystem.STANDARD)


def isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


SEVERITY_STYLE = {"critical": ("bold", "red"), "warning": ("yellow",), "info": ("blue",)}
STATUS_STYLE = {
    "firing": ("red",),
    "pending": ("magenta",),
    "silenced": ("dim",),
    "inhibited": ("dim",),
    "resolved": ("green",),
}


def clean(text: object) -> str:
    """``text`` on one line, without control characters (see :func:`one_line`)."""
    return one_line(text)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide East Asian characters take two)."""
    return cell_len(text)


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns, with an ellipsis when something was cut."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1).rstrip() + "…"


def pad(text: str, width: int) -> str:
    """``text`` truncated or padded with spaces to exactly ``width`` columns."""
    return set_cell_size(truncate(text, width), width)


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its header and the narrowest it may be squeezed to."""

    header: str
    min_width: int


def fit_columns(
    columns: Sequence[Column], rows: Iterable[Sequence[str]], width: int, *, gap: int = 2
) -> list[int]:
    """Column widths for ``rows`` that fit in ``width`` columns.

    Each column starts at its widest cell; while the table is too wide, the widest
    column still above its minimum gives up one column.
    """
    widths = [display_width(c.header) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], display_width(cell))
    budget = width - gap * (len(columns) - 1)
    while sum(widths) > budget:
        shrinkable = [i for i, c in enumerate(columns) if widths[i] > c.min_width]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def join_cells(
    cells: Sequence[str],
    widths: Sequence[int],
    *,
    gap: int = 2,
    term: Terminal | None = None,
    styles: Mapping[int, Sequence[str]] | None = None,
) -> str:
    """One table line: each cell padded (or cut) to its width, trailing blanks removed.

    ``styles`` maps a column index to the styles its cell is painted in; widths are
    measured on the plain text, so colour never shifts a column.
    """
    parts = []
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        text = pad(cell, width)
        style = (styles or {}).get(i)
        if term is not None and style:
            plain = text.rstrip()
            text = term.paint(plain, *style) + text[len(plain) :]
        parts.append(text)
    return (" " * gap).join(parts).rstrip()


def table_lines(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    term: Terminal,
    *,
    styles: Sequence[Mapping[int, Sequence[str]]] = (),
) -> list[str]:
    """``rows`` under ``columns``' headers as a rich :class:`~rich.table.Table`, one line
    per row (the header first), fitting ``width`` columns.

    Columns are as wide as :func:`fit_columns` says (the widest give way first, none
    below its minimum); a cell that does not fit ends in an ellipsis. ``styles[i]`` maps
    a column index to the styles of that cell of row ``i``. Trailing blanks are dropped,
    so colour never changes the text, only paints it.
    """
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    for column, fitted in zip(columns, fit_columns(columns, rows, width), strict=True):
        table.add_column(column.header, width=fitted, no_wrap=True, overflow="ellipsis")
    for i, row in enumerate(rows):
        painted = styles[i] if i < len(styles) else {}
        table.add_row(
            *(Text(cell, style=" ".join(painted.get(j, ()))) for j, cell in enumerate(row))
        )
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, color_system="standard" if term.color else None,
        force_terminal=term.color, no_color=not term.color, markup=False, emoji=False,
        highlight=False, legacy_windows=False, _environ={},
    )
    console.print(table)
    return [_TRAILING_BLANKS.sub(r"\1", line) for line in buffer.getvalue().splitlines()]


_TRAILING_BLANKS = re.compile(r" +((?:\x1b\[[0-9;]*m)*)$")


def ago(dt: datetime | None, now: datetime) -> str:
    """``5m`` (how long ago), ``in 2h`` for the future, ``—`` for None."""
    if dt is None:
        return "—"
    seconds = (now - dt).total_seconds()
    if seconds < 0:
        return f"in {format_age(-seconds)}"
    return format_age(seconds)


def iso(dt: datetime | None) -> str | None:
    """An ISO 8601 string, or None."""
    return None if dt is None else dt.isoformat()


def write_json(out: TextIO, document: Mapping[str, Any]) -> None:
    out.write(redact(json.dumps(document, indent=2, ensure_ascii=False)) + "\n")




@dataclass(frozen=True, slots=True)
class CommandIo:
    """Where a command writes: ``out`` for its results, ``err`` for what it says, and
    ``term``, how ``out`` is printed for (its width, whether to colour)."""

    out: TextIO
    err: TextIO
    term: Terminal = Terminal()

    @classmethod
    def of(cls, out: TextIO | None = None, err: TextIO | None = None) -> CommandIo:
        """The given streams, stdout and stderr standing in for those not given, with
        the terminal settings that suit ``out``."""
        out = out or sys.stdout
        return cls(out, err or sys.stderr, Terminal.for_stream(out))

    def say(self, text: str) -> None:
        """One line for the operator, on ``err``."""
        print(text, file=self.err)
