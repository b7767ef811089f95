"""Opaque cursors of the simulated Kandji API: a token naming server-side state.

A cursor read keeps what its first page decided (which devices a Prism query walks) in
:class:`Snapshots` under an unguessable id, and hands out a token naming that id and a
position in it. Only the newest :data:`MAX_SNAPSHOTS` are kept; an older or forged
token decodes to nothing, which the routes answer with a 400.
"""

from __future__ import annotations

import base64
import secrets
from collections import OrderedDict
from typing import Final, Generic, TypeVar

MAX_SNAPSHOTS: Final = 64
MAX_CURSOR_LENGTH: Final = 128

T = TypeVar("T")


class Snapshots(Generic[T]):
    """Recent snapshots by id; the oldest is forgotten first."""

    def __init__(self, keep: int = MAX_SNAPSHOTS) -> None:
        self._keep = keep
        self._kept: OrderedDict[str, T] = OrderedDict()

    def keep(self, snapshot: T) -> str:
        """Remember ``snapshot``; returns its id."""
        key = secrets.token_hex(8)
        self._kept[key] = snapshot
        while len(self._kept) > self._keep:
            self._kept.popitem(last=False)
        return key

    def get(self, key: str) -> T | None:
        """A kept snapshot, or None when it is unknown or forgotten."""
        return self._kept.get(key)


def encode(*parts: str | int) -> str:
    """An opaque token carrying ``parts`` (none may contain ``|``)."""
    raw = "|".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, count: int) -> list[str] | None:
    """The ``count`` parts of a token, or None when it is not one of ours."""
    if not token or len(token) > MAX_CURSOR_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    parts = raw.split("|")
    return parts if len(parts) == count else None
