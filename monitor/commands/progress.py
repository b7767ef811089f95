"""A progress bar for ``compliance-monitor once`` on a terminal.

The daemon reports a sweep's progress through the four calls of :class:`SweepProgress`
(the composition root and the sweepers make them, when given a reporter; with none they
cost nothing). The work is counted in whatever unit the sweeper plans in: devices for a
per-device sweep, reads for a planned one. :class:`TerminalProgress` draws it as one line
on stderr::

    demo-kandji  [██████████░░░░░░░░░░░░░░]  170/400 devices  42%  3.1s

and leaves one line per finished source above it::

    ✓ demo-kandji: 400 devices in 7.9s

It exists only when stderr is a terminal (:meth:`TerminalProgress.for_stream` returns
None otherwise), so a pipe or a cron job's mail never sees a carriage return. Log lines
written while the bar is up go through :meth:`TerminalProgress.log_stream`, which lifts
the bar, prints the line, and puts the bar back.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TextIO, cast

from monitor.clock import Clock, SystemClock
from monitor.commands.inspect.terminal import Terminal, display_width, isatty, truncate

#: Redraw at most this often (seconds) while devices complete; state changes redraw at once.
REDRAW_EVERY = 0.1
BAR_CELLS = 24
_CLEAR_LINE = "\r\x1b[K"


class SweepProgress(Protocol):
    """What a sweep of one source reports as it goes. Calls are cheap and never raise.

    ``sweep_started``: before the sweeper runs. ``work_planned``: once the sweeper knows
    how much work is left (``total`` in ``unit``: devices to examine, reads to make); a
    later call replaces the total. ``work_done``: as units complete (or are given up
    on). ``sweep_finished``: after the sweep's results are committed.
    """

    def sweep_started(self, source: str) -> None:
        """A sweep of ``source`` begins."""
        ...

    def work_planned(self, source: str, total: int, unit: str = "devices") -> None:
        """This sweep of ``source`` has ``total`` units of work (``unit``) to do."""
        ...

    def work_done(self, source: str, count: int = 1) -> None:
        """``count`` more units of work of ``source`` are done."""
        ...

    def sweep_finished(self, source: str, *, ok: bool, devices: int) -> None:
        """The sweep of ``source`` ended (``ok`` False when anything failed)."""
        ...


@dataclass(slots=True)
class _SourceProgress:
    started: float
    total: int | None = None
    done: int = 0
    unit: str = "devices"
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        if self.total is None:
            return None
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)


class TerminalProgress:
    """A :class:`SweepProgress` drawn as one self-updating line on a terminal.

    Build it with :meth:`for_stream`; call :meth:`close` when the run ends (it removes a
    bar that is still up). ``clock`` times the sweeps and paces redraws.
    """

    def __init__(self, stream: TextIO, *, clock: Clock | None = None, width: int = 80) -> None:
        self.stream = stream
        self.clock = clock or SystemClock()
        self.width = width
        self._sources: dict[str, _SourceProgress] = {}
        self._drawn = False
        self._last_draw = float("-inf")

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
        self._sources[source] = _SourceProgress(started=self.clock.monotonic())
        self._draw(force=True)

    def work_planned(self, source: str, total: int, unit: str = "devices") -> None:
        """``source`` has ``total`` units of work to do: the bar gets its scale."""
        state = self._state(source)
        if unit != state.unit:
            state.done = 0  # a new unit counts from zero (devices listed, then reads planned)
        state.total, state.unit = max(0, total), unit
        self._draw(force=True)

    def work_done(self, source: str, count: int = 1) -> None:
        """``count`` more units of work of ``source`` are done."""
        state = self._state(source)
        state.done += max(0, count)
        self._draw(force=False)

    def sweep_finished(self, source: str, *, ok: bool, devices: int) -> None:
        """The sweep of ``source`` ended: a line stays to say how it went."""
        state = self._state(source)
        state.finished = True
        took = self.clock.monotonic() - state.started
        if ok:
            text = f"✓ {source}: {devices} device{'' if devices == 1 else 's'} in {took:.1f}s"
        else:
            of = f"{state.done}/{state.total}" if state.total is not None else f"{state.done}"
            text = f"✗ {source}: sweep failed after {took:.1f}s ({of} {state.unit} done)"
        self._clear()
        self.stream.write(truncate(text, self.width) + "\n")
        if all(s.finished for s in self._sources.values()):
            self._sources.clear()
        self._draw(force=True)

    # ------------------------------------------------------------------ output

    def close(self) -> None:
        """Remove the bar if it is still drawn."""
        self._clear()
        self._sources.clear()

    def log_stream(self) -> TextIO:
        """A stream for the log that keeps log lines and the bar apart."""
        return cast(TextIO, _BarAwareStream(self))

    def line(self) -> str:
        """The bar line as it would be drawn now (empty when no sweep is running)."""
        running = {n: s for n, s in self._sources.items() if not s.finished}
        if not running:
            return ""
        started = min(s.started for s in running.values())
        took = f"{self.clock.monotonic() - started:.1f}s"
        if len(running) == 1:
            (label, state), = running.items()
            fraction = state.fraction
            if fraction is None:
                count = f"{state.done} {state.unit}" if state.done else "starting…"
                return truncate(f"{label}  {count}  {took}", self.width)
            # The count keeps its width as it grows, so the bar does not jump about.
            done = f"{state.done:>{len(str(state.total))}}"
            tail = f"{done}/{state.total} {state.unit}  {fraction:4.0%}  {took}"
            return self._with_bar(label, fraction, tail, "")
        # Several sources: the mean of the known fractions, and each source's count.
        known = [f for s in running.values() if (f := s.fraction) is not None]
        fraction = sum(known) / len(known) if known else 0.0
        each = ", ".join(
            f"{n} {s.done}/{s.total if s.total is not None else '?'}" for n, s in running.items()
        )
        return self._with_bar(f"{len(running)} sources", fraction, f"{fraction:4.0%}  {took}",
                              f"  ({each})")

    def _with_bar(self, label: str, fraction: float, tail: str, extra: str) -> str:
        room = self.width - display_width(label) - display_width(tail) - 8
        cells = max(0, min(BAR_CELLS, room))
        if cells < 5:
            return truncate(f"{label}  {tail}{extra}", self.width)
        full = round(fraction * cells)
        bar = "█" * full + "░" * (cells - full)
        return truncate(f"{label}  [{bar}]  {tail}{extra}", self.width)

    def _state(self, source: str) -> _SourceProgress:
        state = self._sources.get(source)
        if state is None:  # a report without sweep_started: start counting now
            state = self._sources[source] = _SourceProgress(started=self.clock.monotonic())
        return state

    def _draw(self, *, force: bool) -> None:
        now = self.clock.monotonic()
        if not force and now - self._last_draw < REDRAW_EVERY:
            return
        text = self.line()
        if not text:
            self._clear()
            return
        self.stream.write(_CLEAR_LINE + text)
        self.stream.flush()
        self._drawn = True
        self._last_draw = now

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
            self._drawn = False

    def _redraw(self) -> None:
        self._draw(force=True)


class _BarAwareStream(io.TextIOBase):
    """Writes to the progress stream, lifting the bar for each log line."""

    def __init__(self, progress: TerminalProgress) -> None:
        super().__init__()
        self._progress = progress

    def write(self, text: str) -> int:
        self._progress._clear()
        written = self._progress.stream.write(text)
        if text.endswith("\n"):
            self._progress._redraw()
        return written

    def flush(self) -> None:
        self._progress.stream.flush()

    def isatty(self) -> bool:
        return isatty(self._progress.stream)

    def fileno(self) -> int:
        return self._progress.stream.fileno()
