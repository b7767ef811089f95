"""Fewer young-generation garbage collections while a large sweep runs.

A steady sweep of 100,000 devices decodes about 10,000 status pages: millions of short-
lived dicts, freed by reference counting as soon as their page is looked at. With
CPython's default threshold (a young collection every 700 new objects) the collector
runs thousands of times a sweep, each time moving the requests in flight into older
generations, which then start full collections of the whole heap: a third of the
sweep's CPU at 30,000 devices, more as the heap grows, for nothing (the pages are not
cyclic garbage). While :func:`fewer_collections` is entered (by any number of sweeps at
once) the young generation is collected every :data:`YOUNG_THRESHOLD` new objects
instead; the thresholds in force before are restored when the last sweep leaves.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 100_000
"""New container objects between two young collections during a sweep."""

_entered = 0
_before: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young generation's threshold (never lower it) until the last user leaves."""
    global _entered, _before
    if _entered == 0:
        _before = gc.get_threshold()
        young, *older = _before
        gc.set_threshold(max(young, YOUNG_THRESHOLD), *older)
    _entered += 1
    try:
        yield
    finally:
        _entered -= 1
        if _entered == 0:
            gc.set_threshold(*_before)


__all__ = ["YOUNG_THRESHOLD", "fewer_collections"]
