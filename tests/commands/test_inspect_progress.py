"""The progress display of ``once``: drawn on a terminal only, throttled, kept apart from logs."""

from __future__ import annotations

import io
import logging
import re

import structlog

from monitor.clock import FakeClock
from monitor.commands.inspect.terminal import display_width
from monitor.commands.progress import TerminalProgress
from monitor.log import configure_logging
from monitor.sources.progress import SweepProgress


class FakeTty(io.StringIO):
    """A terminal that records what was written to it."""

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("no real terminal behind this one")


_CONTROL = re.compile(r"(\r|\n|\x1b\[[0-9;?]*[A-Za-z])")


def screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: carriage returns, line erasing and cursor-up
    applied, colours and cursor visibility ignored."""
    lines = [""]
    row = col = 0
    for token in _CONTROL.split(raw):
        if not token:
            continue
        if token == "\r":
            col = 0
        elif token == "\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append("")
        elif token.startswith("\x1b["):
            if token.endswith("K"):  # erase in line (rich erases the whole line)
                lines[row] = "" if token == "\x1b[2K" else lines[row][:col]
            elif token.endswith("A"):
                row = max(0, row - int(token[2:-1] or 1))
        else:
            current = lines[row].ljust(col)
            lines[row] = current[:col] + token + current[col + len(token):]
            col += len(token)
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


def reporter(width: int = 80) -> tuple[TerminalProgress, FakeTty, FakeClock]:
    tty, clock = FakeTty(), FakeClock()
    progress = TerminalProgress.for_stream(tty, clock=clock, environ={"COLUMNS": str(width)})
    assert progress is not None
    progress.console.width = width
    return progress, tty, clock


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    assert TerminalProgress.for_stream(io.StringIO()) is None
    assert TerminalProgress.for_stream(FakeTty(), environ={"TERM": "dumb"}) is None
    assert TerminalProgress.for_stream(FakeTty(), environ={"TERM": "xterm"}) is not None


def test_a_sweep_draws_a_bar_then_leaves_one_line_saying_how_it_went() -> None:
    progress, tty, clock = reporter()
    sink: SweepProgress = progress  # it is what the daemon is given

    sink.sweep_started("macs")
    assert screen(tty.getvalue())[-1].startswith("macs")
    assert "starting…" in screen(tty.getvalue())[-1]
    sink.work_planned("macs", 40)
    for _ in range(20):
        clock.advance(0.2)
        sink.work_done("macs")
    line = screen(tty.getvalue())[-1]
    assert "20/40 devices" in line
    assert "50%" in line
    for _ in range(20):
        clock.advance(0.05)
        sink.work_done("macs")
    sink.sweep_finished("macs", ok=True, devices=40)
    progress.close()

    assert screen(tty.getvalue()) == ["✓ macs: 40 devices in 5.0s"]


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
    progress.close()
    assert screen(tty.getvalue()) == ["✗ macs: sweep failed after 3.0s (12/40 devices done)"]


def test_sources_swept_together_each_get_a_bar() -> None:
    progress, tty, clock = reporter()
    progress.sweep_started("macs")
    progress.sweep_started("pcs")
    progress.work_planned("macs", 30)
    macs, pcs = screen(tty.getvalue())[-2:]
    assert macs.startswith("macs")
    assert "0/30 devices" in macs
    assert pcs.startswith("pcs")
    assert "starting…" in pcs  # not known yet
    progress.work_planned("pcs", 10)
    progress.work_done("macs", 10)
    clock.advance(1)
    progress.work_done("pcs", 10)
    progress.sweep_finished("pcs", ok=True, devices=10)
    shown = screen(tty.getvalue())
    assert shown[0].startswith("✓ pcs: 10 devices")
    assert shown[-1].startswith("macs")  # the other source's bar stays
    assert "10/30 devices" in shown[-1]
    progress.close()
    assert screen(tty.getvalue()) == [shown[0]]


def test_a_planned_sweep_counts_reads_once_it_knows_them() -> None:
    progress, tty, clock = reporter()
    progress.sweep_started("macs")
    progress.work_planned("macs", 400)  # the device list
    progress.work_done("macs", 400)
    progress.work_planned("macs", 57, "reads")  # then the plan: the count starts again
    clock.advance(1)
    progress.work_done("macs", 19)
    line = screen(tty.getvalue())[-1]
    assert "19/57 reads" in line
    assert "33%" in line


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

    shown = screen(tty.getvalue())
    assert "source failing" in shown[0]
    assert not shown[0].startswith("macs")  # no bar fragment before it
    assert shown[1] == "connection reset"
    assert shown[2].startswith("macs")
    assert "10/40 devices" in shown[2]
