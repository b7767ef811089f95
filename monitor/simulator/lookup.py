"""Look-ups a simulated fleet makes that must find something.

A handler that needs a device, an item or a blueprint by id asks the fleet, which
answers with :func:`known`: the thing, or a KeyError naming what was asked for (the
handler turns it into the API's 404).
"""

from __future__ import annotations

from typing import TypeVar

_T = TypeVar("_T")


def known(found: _T | None, what: str, key: str, error: type[KeyError] = KeyError) -> _T:
    """``found``; ``error`` (a KeyError) naming ``what`` was looked up by ``key`` when it
    is None."""
    if found is None:
        raise error(f"unknown {what} {key}")
    return found


__all__ = ["known"]
