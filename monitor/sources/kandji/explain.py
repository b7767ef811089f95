"""The ``explain`` look-up in a Kandji tenant: one device's facts, live, and its activity.

Each fact kind is fetched on its own (the calls a per-device sweep makes), so a token
that may not read details (403) still shows the library items; the newest entries of
the device's activity feed come last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.clock import Clock
from monitor.errors import SourceError
from monitor.log import redact
from monitor.models import Device, FactKind
from monitor.sources.base import ActivityEntry, DeviceFacts
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import SOURCE_KIND, KandjiSourceConfig
from monitor.sources.kandji.mapping import to_device
from monitor.sources.kandji.models import KDevice
from monitor.sources.kandji.reads import read_device
from monitor.sources.lenient import one_line

ACTIVITY_SHOWN = 10
"""How many activity entries ``explain`` shows."""


class KandjiLookup:
    """A Kandji tenant: the calls a per-device sweep makes, plus the activity feed.

    Each fact kind is fetched on its own, so a token that may not read details (403)
    still shows the library items.
    """

    def __init__(self, src: KandjiSourceConfig, clock: Clock, *, budget_max_wait: float) -> None:
        self.src = src
        self.client = KandjiClient(
            src, clock=clock, token=src.resolve_token(), budget_max_wait=budget_max_wait
        )
        self._raw: dict[str, KDevice] = {}

    async def close(self) -> None:
        await self.client.close()

    async def devices(self) -> list[Device]:
        raw = await self.client.list_devices()
        self._raw = {d.device_id: d for d in raw if d.device_id}
        return [to_device(self.src.name, d) for d in self._raw.values()]

    async def facts(self, device: Device, needs: frozenset[FactKind]) -> DeviceFacts:
        out = DeviceFacts(self.src.name, SOURCE_KIND, device)
        did = device.device_id
        read = await read_device(self.client, did, device.platform, needs, keep_going=True)
        if read.details is not None:
            out.device = to_device(self.src.name, self._raw[did], read.details)
        out.subjects.update(read.subjects)
        out.fetched |= read.observed
        out.errors += [f"{what}: {redact(str(exc))}" for what, exc in read.errors]
        await self._activity(out)
        return out

    async def _activity(self, out: DeviceFacts) -> None:
        """The newest entries of the activity feed.

        The feed is a paged list whose order the API does not document (the examples
        are oldest first), so the first and the last page are both read and merged.
        """
        did = out.device.device_id
        try:
            first = await self.client.get_device_activity(did, limit=ACTIVITY_SHOWN)
            entries = list(first.activity.results)
            total = first.activity.count or len(entries)
            if total > len(entries):
                last = await self.client.get_device_activity(
                    did, limit=ACTIVITY_SHOWN, offset=max(0, total - ACTIVITY_SHOWN)
                )
                entries.extend(last.activity.results)
        except SourceError as exc:
            out.activity_error = redact(str(exc))
            out.activity = None
            return
        unique = {(e.id, e.created_at, e.action_type): e for e in entries}
        newest = sorted(
            unique.values(),
            key=lambda e: (e.created_at is not None, e.created_at, e.id or 0),
            reverse=True,
        )
        out.activity = [
            ActivityEntry(
                e.created_at, e.action_type, activity_summary(e.details, e.action_type), e.details
            )
            for e in newest[:ACTIVITY_SHOWN]
        ]


_ACTIVITY_KEYS = (
    "blueprint_name",
    "enrollment_type",
    "profile_name",
    "csp_name",
    "policy_area",
    "library_item_name",
    "reason",
)


#: Kandji's MDM command ``status`` codes.
COMMAND_STATUS: Mapping[object, str] = {
    1: "pending",
    2: "running",
    3: "completed",
    4: "failed",
    5: "NotNow",
}


def activity_summary(details: Any, action: str = "") -> str:
    """A short line from an activity entry's free-form ``details``.

    An MDM command reads ``ProfileList (Acknowledged)``, a rename ``iMac → Noor's iMac``;
    other entries show their best-known keys as ``key=value``.
    """
    if details is None:
        return ""
    if not isinstance(details, Mapping):
        return one_line(details)[:120]
    if _scalar(details.get("command_type")):
        text = one_line(details["command_type"])
        state = COMMAND_STATUS.get(details.get("status"), details.get("status"))
        if _scalar(state) and str(state).casefold() not in action.casefold():
            text += f" ({one_line(state)})"
        return text
    if _scalar(details.get("to")):
        return f"{one_line(details.get('from') or '—')} → {one_line(details['to'])}"
    picked = [(k, details[k]) for k in _ACTIVITY_KEYS if _scalar(details.get(k))]
    if not picked:
        picked = [(str(k), v) for k, v in details.items() if _scalar(v)][:3]
    return "; ".join(f"{k}={one_line(v)}" for k, v in picked)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value != ""


__all__ = ["ACTIVITY_SHOWN", "COMMAND_STATUS", "KandjiLookup", "activity_summary"]
