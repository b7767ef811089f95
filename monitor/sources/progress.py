"""How far a sweep has come: the one protocol sweepers report through (optional).

A reporter (the progress bar of ``once`` on a terminal) hears four calls; with none
set, a sweeper skips them.
"""

from __future__ import annotations

from typing import Protocol


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
