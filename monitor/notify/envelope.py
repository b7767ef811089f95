"""The envelope of a message: its group, why it is sent, and what it counts.

Senders receive it with every message. Its :attr:`Envelope.dedup_key` is the group's
stable key for receivers that deduplicate (PagerDuty ``dedup_key``, Opsgenie ``alias``,
a webhook header): a resend of the same group updates the same incident.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.models import NotifyReason


def dedup_key(group_key: str) -> str:
    """A short, stable, URL-safe key for ``group_key`` (PagerDuty allows 255 characters,
    Opsgenie 512; group keys hold label values of any length)."""
    return "cm-" + hashlib.sha256(group_key.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a message says about itself: its group, why it is sent, what it counts."""

    group_key: str
    reason: NotifyReason
    firing: int = 0
    resolved: int = 0

    @property
    def dedup_key(self) -> str:
        """The group's stable key for receivers that deduplicate (see :func:`dedup_key`)."""
        return dedup_key(self.group_key)

    @property
    def all_resolved(self) -> bool:
        """Nothing fires any more in the group: the incident can be closed."""
        return self.firing == 0 and self.resolved > 0


__all__ = ["Envelope", "dedup_key"]
