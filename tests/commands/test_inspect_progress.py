"""The progress bar of ``once``: drawn on a terminal only, throttled, and kept apart from logs."""

from __future__ import annotations

import io
import logging
import re

import structlog

from monitor.clock import FakeClock
from monitor.commands.inspect.terminal import display_width
from monitor.commands.progress import SweepProgress, TerminalProgress
from monitor.log import configure_logging


class FakeTty(io.StringIO):
    """A terminal that records what was written to it."""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no real terminal behind this one")


def screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: carriage returns and erase-line applied."""
    lines = [""]
    col = 0
    for token in re.split(r"(\r|\n|\x1b\[K)", raw):
        if token == "\r":
            col = 0
        elif token == "\n":
            lines.append("")
            col = 0
        elif token == "\x1b[K":
            lines[-1] = lines[-1][:col]
        elif token:
            current = lines[-1]
            lines[-1] = current[:col] + token + current[col + len(token):]
            col += len(token)
    return lines


def reporter(width: int = 80) -> tuple[TerminalProgress, FakeTty, FakeClock]:
    tty, clock = FakeTty(), FakeClock()
    progress = TerminalProgress.for_stream(tty, clock=clock, environ={"COLUMNS": str(width)})
    assert progress is not None
    progress.width = width
    return progress, tty, clock


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    assert TerminalProgress.for_stream(io.StringIO()) is None
    assert TerminalProgress.for_stream(FakeTty(), environ={"TERM": "dumb"}) is None
    assert TerminalProgress.for_stream(FakeTty(), environ={"TERM": "xterm"}) is not None


def test_a_sweep_draws_a_bar_then_leaves_one_line_saying_how_it_went() -> None:
    progress, tty, clock = reporter()
    sink: SweepProgress = progress  # it is what the daemon is given

    sink.sweep_started("macs")
    assert screen(tty.getvalue())[-1].startswith("macs  starting…")
    sink.work_planned("macs", 40)
    for _ in range(20):
        clock.advance(0.2)
        sink.work_done("macs")
    assert screen(tty.getvalue())[-1].startswith("macs  [████████████░░░░░░░░░░░░]  20/40")
    assert "50%" in screen(tty.getvalue())[-1]
    for _ in range(20):
        clock.advance(0.05)
        sink.work_done("macs")
    sink.sweep_finished("macs", ok=True, devices=40)

    assert screen(tty.getvalue()) == ["✓ macs: 40 devices in 5.0s", ""]


def test_redraws_are_throttled_while_devices_complete() -> None:
    progress, tty, clock = reporter()
    progress.sweep_started("macs")
    progress.work_planned("macs", 1000)
    before = tty.getvalue().count("\r")
    for _ in range(1000):
        clock.advance(0.001)  # a thousand devices in one second
        progress.work_done("macs")
    frames = tty.getvalue().count("\r") - before
    assert 5 <= frames <= 11  # about one frame per REDRAW_EVERY, not one per device


def test_a_failed_sweep_says_how_far_it_got() -> None:
    progress, tty, clock = reporter()
    progress.sweep_started("macs")
    progress.work_planned("macs", 40)
    progress.work_done("macs", 12)
    clock.advance(3)
    progress.sweep_finished("macs", ok=False, devices=12)
    assert screen(tty.getvalue()) == [
        "✗ macs: sweep failed after 3.0s (12/40 devices done)", ""
    ]


def test_sources_swept_together_share_one_bar() -> None:
    progress, tty, clock = reporter()
    progress.sweep_started("macs")
    progress.sweep_started("pcs")
    progress.work_planned("macs", 30)
    assert screen(tty.getvalue())[-1].endswith("(macs 0/30, pcs 0/?)")  # pcs: not known yet
    progress.work_planned("pcs", 10)
    progress.work_done("macs", 10)
    clock.advance(1)
    progress.work_done("pcs", 10)
    line = screen(tty.getvalue())[-1]
    assert line.startswith("2 sources  [")
    assert " 67% " in line  # the mean of 10/30 and 10/10
    assert line.endswith("(macs 10/30, pcs 10/10)")

    progress.sweep_finished("pcs", ok=True, devices=10)
    shown = screen(tty.getvalue())
    assert shown[0].startswith("✓ pcs: 10 devices")
    assert shown[-1].startswith("macs  [")  # the other source's bar is back
    progress.close()
    assert screen(tty.getvalue())[-1] == ""


def test_a_planned_sweep_counts_reads_once_it_knows_them() -> None:
    progress, tty, clock = reporter()
    progress.sweep_started("macs")
    progress.work_planned("macs", 400)  # the device list
    progress.work_done("macs", 400)
    progress.work_planned("macs", 57, "reads")  # then the plan: the count starts again
    clock.advance(1)
    progress.work_done("macs", 19)
    assert "19/57 reads" in screen(tty.getvalue())[-1]
    assert " 33% " in screen(tty.getvalue())[-1]


def test_the_bar_never_overflows_a_narrow_terminal() -> None:
    for width in (40, 60, 80):
        progress, tty, _ = reporter(width)
        progress.sweep_started("a-source-with-a-rather-long-name")
        progress.work_planned("a-source-with-a-rather-long-name", 12345)
        progress.work_done("a-source-with-a-rather-long-name", 6000)
        assert all(display_width(line) <= width for line in screen(tty.getvalue()))


def test_log_lines_go_above_the_bar_not_through_it() -> None:
    progress, tty, _ = reporter()
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("info", "console", stream=progress.log_stream())
        progress.sweep_started("macs")
        progress.work_planned("macs", 40)
        progress.work_done("macs", 10)
        structlog.get_logger("test").warning("source failing", source="pcs")
        logging.getLogger("aiohttp.client").warning("connection reset")
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)

    shown = screen(re.sub(r"\x1b\[[0-9;]*m", "", tty.getvalue()))
    assert "source failing" in shown[0]
    assert "[" not in shown[0].split("source failing")[0][-3:]  # no bar fragment before it
    assert shown[1] == "connection reset"
    assert shown[2].startswith("macs  [")
    assert "10/40 devices" in shown[2]
