"""The pure parts of status and explain: cutting text for a terminal, matching devices."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.commands.inspect.explain import Candidate, close_matches, exact_matches
from monitor.commands.inspect.terminal import (
    Column,
    Terminal,
    clean,
    display_width,
    fit_columns,
    join_cells,
    pad,
    truncate,
)
from monitor.models import Device, SourceKind


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("MacBook Pro", 20, "MacBook Pro"),
        ("MacBook Pro", 11, "MacBook Pro"),
        ("MacBook Pro", 10, "MacBook P…"),
        ("MacBook Pro", 9, "MacBook…"),  # no space left dangling before the ellipsis
        ("MacBook Pro", 1, "…"),
        ("MacBook Pro", 0, ""),
        ("山田のMacBook", 6, "山田…"),  # wide characters take two columns
        ("Jun\u2019s iMac", 8, "Jun\u2019s i…"),  # the curly apostrophe of device names
    ],
)
def test_truncate_cuts_to_the_width_with_an_ellipsis(text: str, width: int, expected: str) -> None:
    assert truncate(text, width) == expected
    assert display_width(truncate(text, width)) <= max(width, 0)


def test_pad_makes_every_cell_exactly_its_width() -> None:
    for text in ("", "ab", "山田", "a long device name"):
        assert display_width(pad(text, 7)) == 7


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Maria's Mac", "Maria's Mac"),
        ("evil\x1b]0;pwned\x07Mac", "evil]0;pwnedMac"),  # no escape reaches the terminal
        ("two\nlines\r\tand a tab", "two lines  and a tab"),
        ("zero\u200bwidth", "zerowidth"),
        (42, "42"),
    ],
)
def test_clean_keeps_text_on_one_line_without_control_characters(raw: Any, expected: str) -> None:
    assert clean(raw) == expected


def test_fit_columns_shrinks_the_widest_column_first_and_keeps_minimums() -> None:
    cols = [Column("NAME", 6), Column("SERIAL", 12), Column("STATUS", 6)]
    rows = [["a" * 40, "C02XL0AAJGH5", "firing"]]
    widths = fit_columns(cols, rows, 40)
    assert widths == [40 - 4 - 12 - 6, 12, 6]
    assert display_width(join_cells(rows[0], widths)) <= 40
    # Too narrow for the minimums: each column stops at its minimum.
    assert fit_columns(cols, rows, 10) == [6, 12, 6]
    # Wide enough: natural widths.
    assert fit_columns(cols, rows, 200) == [40, 12, 6]


def test_colour_is_painted_only_when_asked() -> None:
    assert Terminal(color=False).paint("firing", "red") == "firing"
    assert Terminal(color=True).paint("firing", "red") == "\x1b[31mfiring\x1b[0m"
    assert Terminal(color=True).paint("", "red") == ""


def device(name: str, serial: str, device_id: str) -> Device:
    return Device("macs", SourceKind("kandji"), device_id, name, serial=serial)


FLEET = [
    device("Maria's MacBook Pro", "C02XL0AAJGH5", "5f1c2a0e-0000-4000-8000-000000000001"),
    device("MacBook Pro", "C02XL0AAJGH6", "5f1c2a0e-0000-4000-8000-000000000002"),
    device("MacBook Pro", "C02XL0AAJGH7", "c02xl0aajgh5"),  # an id that looks like a serial
    device("Jun's iMac", "", "5f1c2a0e-0000-4000-8000-000000000004"),
]


def test_an_id_beats_a_serial_which_beats_a_name() -> None:
    assert [d.device_id for d in exact_matches("C02XL0AAJGH5", FLEET)] == ["c02xl0aajgh5"]
    assert [d.serial for d in exact_matches("c02xl0aajgh6", FLEET)] == ["C02XL0AAJGH6"]
    assert len(exact_matches("macbook pro", FLEET)) == 2  # names repeat: ambiguous
    assert exact_matches("", FLEET) == []  # an empty serial is not a match for nothing
    assert exact_matches("  Jun's iMac ", FLEET)[0].name == "Jun's iMac"


def test_close_matches_find_typos_and_parts_best_first() -> None:
    pool = [Candidate("macs", d) for d in FLEET]
    assert close_matches("Maria's MacBok Pro", pool)[0].device.name == "Maria's MacBook Pro"
    assert {c.device.name for c in close_matches("maria", pool)} == {"Maria's MacBook Pro"}
    assert close_matches("zzzzzz", pool) == []
    assert len(close_matches("MacBook", pool, n=2)) == 2
