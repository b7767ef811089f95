"""The actions audit: how attempts are written, read back and listed.

Each attempt is one row of the store's actions table (``Store.record_action``):
``action`` is the action type (``kandji.tag``), ``device`` is ``source/device_id``,
``who`` is ``rule:<rule id>``, ``at`` and ``result`` (an :class:`ActionStatus` value)
say when and how it went, and ``detail`` is a small JSON object with the rest (the
params, the alert's fingerprint, the trigger, the device's name, what the API said).
The runner reads these rows back for the cool-downs and hourly caps, and to restore
open failures after a restart; :func:`list_actions` and :func:`format_actions` serve
``compliance-monitor actions list``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.actions.base import ActionKeys, ActionRecord, ActionResult
from monitor.models import EMPTY, projected
from monitor.store.base import Store

DETAIL_VERSION = 1


def encode_detail(result: ActionResult, extra: Mapping[str, Any] | None = None) -> str:
    """The ``detail`` column of one result (compact JSON, keys sorted)."""
    req = result.request
    body: dict[str, Any] = {
        "v": DETAIL_VERSION,
        "params": dict(req.params),
        "rule": req.rule_id,
        "trigger": req.trigger,
        "fingerprint": req.fingerprint,
        "source_kind": req.source_kind.value,
        "device_name": req.device_name,
        "device_serial": req.device_serial,
        "dry_run": result.dry_run,
        "message": result.message,
    }
    if extra:
        body["details"] = dict(extra)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


def decode_detail(text: str) -> dict[str, Any]:
    """The ``detail`` column back as a mapping (``{"message": text}`` if not ours)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"message": text}
    return value if isinstance(value, dict) else {"message": text}


@dataclass(frozen=True, slots=True)
class ActionEntry(ActionKeys):
    """One audit row, decoded: who ran what on which device, when, and how it went."""

    id: int
    at: datetime
    action: str
    source: str
    device_id: str
    device_name: str
    who: str
    result: str
    trigger: str = ""
    params: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    message: str = ""
    fingerprint: str = ""
    dry_run: bool = False


_TEXT_DETAILS = ("device_name", "trigger", "message", "fingerprint")
"""The detail keys an entry shows as text (empty when absent)."""


def entry(record: ActionRecord) -> ActionEntry:
    """Decode one stored row: its columns as they are, its ``detail`` spread out."""
    detail = decode_detail(record.detail)
    source, _, device_id = record.device.partition("/")
    params = detail.get("params")
    return ActionEntry(**projected(
        ActionEntry,
        record,
        source=source,
        device_id=device_id,
        params=params if isinstance(params, dict) else {},
        dry_run=bool(detail.get("dry_run", False)),
        **{key: str(detail.get(key) or "") for key in _TEXT_DETAILS},
    ))


async def list_actions(
    audit: Store,
    *,
    source: str | None = None,
    device: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[ActionEntry]:
    """Audit entries, newest first: all, or those of one source or one device.

    ``device`` is a device id (with ``source``) or ``source/device_id``.
    """
    key = None
    if device is not None:
        key = device if "/" in device or source is None else f"{source}/{device}"
    records = await audit.actions(device=key, since=since, limit=max(limit, 1) * 4)
    out = [entry(r) for r in records]
    if source is not None:
        out = [e for e in out if e.source == source]
    return out[:limit]


def format_actions(entries: Sequence[ActionEntry]) -> str:
    """A plain-text table of audit entries (for the command line)."""
    if not entries:
        return "no actions recorded"
    header = ("WHEN (UTC)", "ACTION", "DEVICE", "RULE", "RESULT", "WHAT")
    rows = [
        (
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.action + (f" {_short_params(e.params)}" if e.params else ""),
            f"{e.source}/{e.device_name or e.device_id}",
            e.who.removeprefix("rule:"),
            e.result,
            _one_line(e.message),
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for r in (header, *rows):
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


def _short_params(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in sorted(params.items()))


def _value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    return str(v)


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


__all__ = [
    "ActionEntry",
    "decode_detail",
    "encode_detail",
    "entry",
    "format_actions",
    "list_actions",
]
