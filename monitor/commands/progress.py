"""A progress bar for ``compliance-monitor once`` on a terminal.

The daemon reports a sweep's progress through the four calls of :class:`SweepProgress`
(the composition root and the sweepers make them, when given a reporter; with none they
cost nothing). :class:`TerminalProgress` draws them as one line on stderr::

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

    ``sweep_started``: before the sweeper runs. ``devices_listed``: once the number of
    devices to examine is known. ``devices_done``: as devices' facts are fetched (or
    given up on). ``sweep_finished``: after the sweep's results are committed.
    """

    def sweep_started(self, source: str) -> None:
        """A sweep of ``source`` begins."""
        ...

    def devices_listed(self, source: str, total: int) -> None:
        """``source`` has ``total`` devices to examine in this sweep."""
        ...

    def devices_done(self, source: str, count: int = 1) -> None:
        """``count`` more devices of ``source`` are done."""
        ...

    def sweep_finished(self, source: str, *, ok: bool, devices: int) -> None:
        """The sweep of ``source`` ended (``ok`` False when anything failed)."""
        ...


@dataclass(slots=True)
class _SourceProgress:
    started: float
    total: int | None = None
    done: int = 0
    finished: bool = False


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

    def devices_listed(self, source: str, total: int) -> None:
        """The device list of ``source`` is read: ``total`` devices to go."""
        state = self._state(source)
        state.total = max(0, total)
        self._draw(force=True)

    def devices_done(self, source: str, count: int = 1) -> None:
        """``count`` more devices of ``source`` are done."""
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
            text = f"✗ {source}: sweep failed after {took:.1f}s ({of} devices)"
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
        done = sum(s.done for s in running.values())
        totals = [s.total for s in running.values()]
        known = None if any(t is None for t in totals) else sum(t or 0 for t in totals)
        started = min(s.started for s in running.values())
        took = f"{self.clock.monotonic() - started:.1f}s"
        label = next(iter(running)) if len(running) == 1 else f"{len(running)} sources"
        if known is None:
            count = f"{done} devices" if done else "listing devices…"
            return truncate(f"{label}  {count}  {took}", self.width)
        fraction = 1.0 if known == 0 else min(1.0, done / known)
        count = f"{done}/{known} devices  {fraction:4.0%}  {took}"
        room = self.width - display_width(label) - display_width(count) - 8
        cells = max(0, min(BAR_CELLS, room))
        if cells < 5:
            return truncate(f"{label}  {count}", self.width)
        full = round(fraction * cells)
        bar = "█" * full + "░" * (cells - full)
        return f"{label}  [{bar}]  {count}"

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
