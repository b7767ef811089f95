"""Kandji actions: tag a device, ask for an inventory update, cancel a stuck Lost Mode.

``kandji.tag`` (params ``add`` and/or ``remove``: a tag name or a list of them).
Update Device (``PATCH /api/v1/devices/{id}``) *replaces* the whole tag list, so the
action reads the device's current tags first (``GET /api/v1/devices/{id}``, never the
sweep's copy, which may be minutes old), merges, and writes the merged list back only
when it differs. A tag someone else added stays. The read and the write are two
calls; a tag added by someone else in the instant between them would be lost, and no
documented call avoids that (there is no conditional update).

``kandji.update_inventory`` (no params): ``POST /api/v1/devices/{id}/action/updateinventory``
with no body; Apple devices only. Success is a 200 with an empty body.

``kandji.cancel_lost_mode`` (param ``error_statuses``, optional): for an iPhone or
iPad, reads ``GET /api/v1/devices/{id}/details/lostmode`` and, only when its
``lost_mode_status`` or ``disable_status`` reports an error state, sends
``DELETE /api/v1/devices/{id}/details/lostmode`` (204). The reference names no error
values; by default a status containing ``ERROR`` or ``FAIL`` counts, and
``error_statuses`` lists exact values instead. A device not in Lost Mode (the GET
answers 400) needs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monitor.actions.base import (
    ActionClient,
    ActionRequest,
    ActionStatus,
    Outcome,
    unknown_params,
)
from monitor.errors import ClientRequestError
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import SOURCE_KIND
from monitor.sources.kandji.mapping import LOST_MODE_PLATFORMS

DEVICE_ACTION_UPDATE_INVENTORY = "/api/v1/devices/{device_id}/action/updateinventory"

APPLE_PLATFORMS: frozenset[str] = frozenset({"Mac", "iPhone", "iPad", "AppleTV"})
MAX_TAG_LENGTH = 255


def _names(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return list(dict.fromkeys(str(v) for v in items))


class _KandjiAction:
    """What every Kandji action shares: its source kind, and :meth:`refusal` of a client
    that is not Kandji's, a malformed device id, or a device whose platform is known and
    not among ``platforms`` (None: any platform), which ``what`` names."""

    source_kind = SOURCE_KIND
    platforms: frozenset[str] | None = None
    what = ""

    def refusal(self, request: ActionRequest, client: ActionClient) -> str | None:
        """Refuse a non-Kandji client, a malformed id, a device of another platform."""
        if not isinstance(client, KandjiClient):
            return f"source {request.source!r} is not a Kandji tenant"
        if not request.device_id or "/" in request.device_id:
            return f"device id {request.device_id!r} is not a Kandji device id"
        platform = request.device.platform if request.device is not None else ""
        if self.platforms is not None and platform and platform not in self.platforms:
            allowed = ", ".join(sorted(self.platforms))
            return f"{self.what} is for {allowed} devices, not {platform}"
        return None


def merge_tags(current: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> list[str]:
    """``current`` with ``add`` appended (when missing) and ``remove`` taken out.

    Order is kept, so an unchanged set writes back exactly what was read.
    """
    dropped = set(remove)
    merged = [t for t in current if t not in dropped]
    merged.extend(t for t in add if t not in merged and t not in dropped)
    return merged


class KandjiTag(_KandjiAction):
    """``kandji.tag``: add and/or remove tags, keeping every other tag."""

    type = "kandji.tag"

    def check(self, params: Mapping[str, Any]) -> str | None:
        """``add`` and/or ``remove``: tag names (strings, 1-255 characters), disjoint."""
        if (problem := unknown_params(params, "add", "remove")) is not None:
            return problem
        if "add" not in params and "remove" not in params:
            return "give add and/or remove (a tag name or a list of them)"
        for key in ("add", "remove"):
            if key not in params:
                continue
            raw = params[key]
            items = [raw] if isinstance(raw, str) else raw
            if not isinstance(items, list) or not items:
                return f"{key} must be a tag name or a non-empty list of them"
            for tag in items:
                if not isinstance(tag, str) or not tag.strip():
                    return f"{key}: {tag!r} is not a tag name"
                if len(tag) > MAX_TAG_LENGTH:
                    return f"{key}: a tag name has at most {MAX_TAG_LENGTH} characters"
        both = set(_names(params.get("add"))) & set(_names(params.get("remove")))
        if both:
            return f"a tag cannot be both added and removed: {', '.join(sorted(both))}"
        return None

    def describe(self, request: ActionRequest, client: ActionClient) -> str:
        """The read-merge-write that would be sent."""
        add, remove = _names(request.params.get("add")), _names(request.params.get("remove"))
        change = []
        if add:
            change.append(f"add {', '.join(add)}")
        if remove:
            change.append(f"remove {', '.join(remove)}")
        return (
            f"GET /api/v1/devices/{request.device_id}, then PATCH its tags "
            f"({'; '.join(change)}; other tags kept)"
        )

    async def execute(self, request: ActionRequest, client: ActionClient) -> Outcome:
        """Read the current tags, merge, write back when they change."""
        assert isinstance(client, KandjiClient)
        add, remove = _names(request.params.get("add")), _names(request.params.get("remove"))
        current = list((await client.get_device(request.device_id)).tags)
        merged = merge_tags(current, add, remove)
        details = {"tags_before": current, "tags_after": merged}
        if merged == current:
            return Outcome(ActionStatus.NOT_NEEDED, "the tags are already as asked", details)
        answer = await client.update_device(request.device_id, {"tags": merged})
        written = list(answer.tags)
        details = {"tags_before": current, "tags_after": written}
        if set(written) != set(merged):
            return Outcome(
                ActionStatus.FAILED,
                f"Kandji answered with tags {written}, not the {merged} sent",
                details,
            )
        return Outcome(
            ActionStatus.DONE,
            f"tags now {', '.join(written) or '(none)'} (were {', '.join(current) or '(none)'})",
            details,
        )


class KandjiUpdateInventory(_KandjiAction):
    """``kandji.update_inventory``: run the MDM inventory commands now (Apple devices)."""

    type = "kandji.update_inventory"
    platforms = APPLE_PLATFORMS
    what = "an inventory update"

    def check(self, params: Mapping[str, Any]) -> str | None:
        """No params."""
        return unknown_params(params)

    def describe(self, request: ActionRequest, client: ActionClient) -> str:
        """The request that would be sent."""
        return f"POST /api/v1/devices/{request.device_id}/action/updateinventory (no body)"

    async def execute(self, request: ActionRequest, client: ActionClient) -> Outcome:
        """Send the action (200 with an empty body on success)."""
        assert isinstance(client, KandjiClient)
        await client.api.post_json(
            DEVICE_ACTION_UPDATE_INVENTORY, None, path_params={"device_id": request.device_id}
        )
        return Outcome(ActionStatus.DONE, "inventory update sent")


def lost_mode_in_error(
    lost_mode_status: str, disable_status: str, error_statuses: Sequence[str] = ()
) -> bool:
    """Whether Lost Mode details report an error state (see the module docstring)."""
    values = [v.strip().upper() for v in (lost_mode_status, disable_status) if v.strip()]
    if error_statuses:
        wanted = {s.strip().upper() for s in error_statuses}
        return any(v in wanted for v in values)
    return any("ERROR" in v or "FAIL" in v for v in values)


class KandjiCancelLostMode(_KandjiAction):
    """``kandji.cancel_lost_mode``: cancel a Lost Mode stuck in an error state (iPhone
    and iPad)."""

    type = "kandji.cancel_lost_mode"
    platforms = LOST_MODE_PLATFORMS
    what = "cancelling Lost Mode"

    def check(self, params: Mapping[str, Any]) -> str | None:
        """Optional ``error_statuses``: a non-empty list of status values."""
        if (problem := unknown_params(params, "error_statuses")) is not None:
            return problem
        if "error_statuses" in params:
            raw = params["error_statuses"]
            if not isinstance(raw, list) or not raw:
                return "error_statuses must be a non-empty list of status values"
            if not all(isinstance(s, str) and s.strip() for s in raw):
                return "error_statuses must hold non-empty strings"
        return None

    def describe(self, request: ActionRequest, client: ActionClient) -> str:
        """The read, and the cancellation that would follow an error state."""
        path = f"/api/v1/devices/{request.device_id}/details/lostmode"
        return f"GET {path}, then DELETE {path} if it reports an error state"

    async def execute(self, request: ActionRequest, client: ActionClient) -> Outcome:
        """Cancel only when the details report an error state."""
        assert isinstance(client, KandjiClient)
        try:
            details = await client.get_lost_mode_details(request.device_id)
        except ClientRequestError as exc:
            if exc.status == 400:
                return Outcome(ActionStatus.NOT_NEEDED, "the device is not in Lost Mode")
            raise
        lost = details.lost_mode
        states = {"lost_mode_status": lost.lost_mode_status, "disable_status": lost.disable_status}
        wanted = _names(request.params.get("error_statuses"))
        if not lost_mode_in_error(lost.lost_mode_status, lost.disable_status, wanted):
            shown = lost.lost_mode_status or "(empty)"
            return Outcome(
                ActionStatus.NOT_NEEDED, f"Lost Mode is {shown}, not in an error state", states
            )
        await client.cancel_lost_mode(request.device_id)
        return Outcome(
            ActionStatus.DONE,
            f"Lost Mode cancelled (it reported {lost.lost_mode_status or lost.disable_status})",
            states,
        )


__all__ = [
    "APPLE_PLATFORMS",
    "DEVICE_ACTION_UPDATE_INVENTORY",
    "LOST_MODE_PLATFORMS",
    "KandjiCancelLostMode",
    "KandjiTag",
    "KandjiUpdateInventory",
    "lost_mode_in_error",
    "merge_tags",
]
