"""A progress display for ``compliance-monitor once`` on a terminal, drawn by rich.

The daemon reports a sweep's progress through the four calls of
:class:`~monitor.sources.progress.SweepProgress` (the sweep cycle and the sweepers make
them, when given a reporter; with none they cost nothing). The work is counted in
whatever unit the sweeper plans in: devices for a per-device sweep, reads for a planned
one. :class:`TerminalProgress` shows one bar per source being swept on stderr::

    demo-kandji  ━━━━━━━━━━━━╸━━━━━━━━━━━  170/400 devices   42%  0:00:03

and leaves one line per finished source above the bars::

    ✓ demo-kandji: 400 devices in 7.9s

It exists only when stderr is a terminal (:meth:`TerminalProgress.for_stream` returns
None otherwise), so a pipe or a cron job's mail never sees a cursor movement. Log lines
written while the bars are up go through :meth:`TerminalProgress.log_stream`: rich
prints them above the bars.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO, cast

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from monitor.clock import Clock, SystemClock
from monitor.commands.inspect.terminal import Terminal, isatty

#: Redraw at most this often (seconds) while work completes; state changes redraw at once.
REDRAW_EVERY = 0.1
BAR_CELLS = 24


class _CountColumn(ProgressColumn):
    """``170/400 devices``, or ``starting…`` while the amount of work is unknown."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "devices")
        if task.total is None:
            done = int(task.completed)
            return Text(f"{done} {unit}" if done else "starting…")
        total = int(task.total)
        return Text(f"{int(task.completed):>{len(str(total))}}/{total} {unit}")


@dataclass(slots=True)
class _Source:
    task: TaskID
    started: float
    unit: str = "devices"


class TerminalProgress:
    """A :class:`~monitor.sources.progress.SweepProgress` drawn on a terminal by rich.

    Build it with :meth:`for_stream`; call :meth:`close` when the run ends (it removes
    bars still up). ``clock`` times the sweeps and paces redraws.
    """

    def __init__(self, stream: TextIO, *, clock: Clock | None = None, width: int = 80) -> None:
        self.stream = stream
        self.clock = clock or SystemClock()
        self.console = Console(
            file=stream, width=width, force_terminal=True, highlight=False,
            no_color=bool(os.environ.get("NO_COLOR")),
        )
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=BAR_CELLS),
            _CountColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=self.console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            get_time=self.clock.monotonic,
        )
        self._sources: dict[str, _Source] = {}
        self._last_draw = float("-inf")
        self._live = False

    @classmethod
    def for_stream(
        cls,
        stream: TextIO,
        *,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> TerminalProgress | None:
        """A reporter drawing on ``stream`` (stderr), or None when it is not a terminal."""
        env = os.environ if environ is None else environ
        if not isatty(stream) or env.get("TERM") == "dumb":
            return None
        return cls(stream, clock=clock, width=Terminal.for_stream(stream, env).width)

    # ------------------------------------------------------------------ SweepProgress

    def sweep_started(self, source: str) -> None:
        """A sweep of ``source`` begins: its bar appears (the total is not known yet)."""
        self._source(source, fresh=True)
        self._draw(force=True)

    def work_planned(self, source: str, total: int, unit: str = "devices") -> None:
        """``source`` has ``total`` units of work to do: the bar gets its scale."""
        state = self._source(source)
        if unit != state.unit:  # a new unit counts from zero (devices listed, then reads)
            self._progress.update(state.task, completed=0)
        state.unit = unit
        self._progress.update(state.task, total=max(0, total), unit=unit)
        self._draw(force=True)

    def work_done(self, source: str, count: int = 1) -> None:
        """``count`` more units of work of ``source`` are done."""
        self._progress.advance(self._source(source).task, max(0, count))
        self._draw(force=False)

    def sweep_finished(self, source: str, *, ok: bool, devices: int) -> None:
        """The sweep of ``source`` ended: its bar goes, a line stays to say how it went."""
        state = self._source(source)
        task = self._progress.tasks[state.task]
        took = self.clock.monotonic() - state.started
        if ok:
            text = f"✓ {source}: {devices} device{'' if devices == 1 else 's'} in {took:.1f}s"
        else:
            total = "" if task.total is None else f"/{int(task.total)}"
            text = (
                f"✗ {source}: sweep failed after {took:.1f}s "
                f"({int(task.completed)}{total} {state.unit} done)"
            )
        self._progress.remove_task(state.task)
        del self._sources[source]
        self.console.print(Text(text), overflow="ellipsis", no_wrap=True, crop=True)
        self._draw(force=True)

    # ------------------------------------------------------------------ output

    def close(self) -> None:
        """Remove the bars if they are still drawn."""
        for state in self._sources.values():
            self._progress.remove_task(state.task)
        self._sources.clear()
        if self._live:
            self._progress.stop()
            self._live = False

    def log_stream(self) -> TextIO:
        """A stream for the log: rich prints each line above the bars."""
        return cast(TextIO, _ConsoleStream(self))

    def redraw(self) -> None:
        """Draw the bars as they stand now (after a line was printed above them)."""
        self._draw(force=True)

    def _source(self, source: str, *, fresh: bool = False) -> _Source:
        state = self._sources.get(source)
        if state is not None and fresh:
            self._progress.remove_task(state.task)
            state = None
        if state is None:  # a report without sweep_started starts counting now
            task = self._progress.add_task(source, total=None, unit="devices")
            state = self._sources[source] = _Source(task, self.clock.monotonic())
        return state

    def _draw(self, *, force: bool) -> None:
        now = self.clock.monotonic()
        if not force and now - self._last_draw < REDRAW_EVERY:
            return
        if not self._sources:
            if self._live:
                self._progress.stop()
                self._live = False
            return
        if not self._live:
            self._progress.start()
            self._live = True
        self._progress.refresh()
        self._last_draw = now


class _ConsoleStream(io.TextIOBase):
    """Writes log lines through the progress console, which keeps them above the bars."""

    def __init__(self, progress: TerminalProgress) -> None:
        super().__init__()
        self._progress = progress
        self._partial = ""

    def write(self, text: str) -> int:
        # A line may come in pieces (print writes the text, then the newline).
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            # Log lines arrive already coloured (or not); rich passes them through as is.
            self._progress.console.print(Text.from_ansi(line), soft_wrap=True)
        if lines:
            self._progress.redraw()
        return len(text)

    def flush(self) -> None:
        self._progress.stream.flush()

    def isatty(self) -> bool:
        return isatty(self._progress.stream)

    def fileno(self) -> int:
        return self._progress.stream.fileno()
