"""The planned sweeper's memory as store entries, so a restart or a takeover keeps it.

:class:`~monitor.sources.kandji.planner.PlannerState` is written as text entries: one
per device (``d:<device id>``: its :class:`DeviceMemo`) and one for the rest
(``state``: known groups, item lists and types, which items looked unhealthy). The
sweeper writes only the devices it read since the last save (and the head when it
changed), so a steady sweep encodes and writes little.

What the items' last reads kept (the rows a sweep carries for an item it defers) is not
written: after a restart, an item not read yet leaves its devices unobserved (their
alerts held) until it is read.

What is read back is checked like any answer from outside: an entry that does not
decode, or decodes to the wrong shapes, is dropped (the device is read again, which
costs a request and nothing else). Entries are bounded in size before they are parsed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import structlog

from monitor.models import Subject, SubjectKind
from monitor.sources.kandji.planner import DeviceMemo, PlannerState

log = structlog.get_logger(__name__)

STATE_KEY = "state"
DEVICE_PREFIX = "d:"
#: Entries longer than this are not parsed (a device memo is a few KiB at most).
MAX_ENTRY_CHARS = 1_000_000
#: What is stored: bump it when the encoding changes (older entries are then dropped).
VERSION = 1


def encode(state: PlannerState) -> dict[str, str]:
    """Every entry of ``state``, by key."""
    out = {DEVICE_PREFIX + did: encode_device(memo) for did, memo in state.devices.items()}
    out[STATE_KEY] = encode_head(state)
    return out


def encode_device(memo: DeviceMemo) -> str:
    """One device's entry."""
    return _dumps(_device(memo))


def encode_head(state: PlannerState) -> str:
    """The ``state`` entry: everything but the devices."""
    return _dumps({
        "v": VERSION,
        "sweeps": state.sweeps,
        "groups": [[bp, platform, sorted(items)] for (bp, platform), items in
                   sorted(state.groups.items())],
        "blueprint_items": {bp: list(items) for bp, items in state.blueprint_items.items()},
        "item_types": state.item_types,
        "unhealthy_items": sorted(state.unhealthy_items),
        "item_last_read": state.item_last_read,
        "items_per_device_below": state.items_per_device_below,
    })


def decode(entries: Mapping[str, str]) -> PlannerState:
    """The state ``entries`` describe; what cannot be read is left out."""
    state = PlannerState()
    dropped = 0
    head = _loads(entries.get(STATE_KEY, ""))
    if isinstance(head, dict) and head.get("v") == VERSION:
        try:
            _restore_head(state, head)
        except (TypeError, ValueError, KeyError):
            state, dropped = PlannerState(), dropped + 1
    for key, text in entries.items():
        if not key.startswith(DEVICE_PREFIX):
            continue
        memo = _device_from(_loads(text))
        if memo is None:
            dropped += 1
        else:
            state.devices[key[len(DEVICE_PREFIX):]] = memo
    if dropped:
        log.warning("memo entries dropped", entries=dropped)
    return state


# ---------------------------------------------------------------------- encoding


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _loads(text: str) -> Any:
    if not text or len(text) > MAX_ENTRY_CHARS:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None


def _subject(s: Subject) -> list[Any]:
    return [s.kind.value, s.id, s.name, s.status, s.type, dict(s.attrs)]


def _subject_from(row: Any) -> Subject:
    kind, id_, name, status, type_, attrs = row
    if not all(isinstance(x, str) for x in (id_, name, status, type_)) or not isinstance(
        attrs, dict
    ):
        raise TypeError("subject fields")
    return Subject(SubjectKind(kind), id_, name, status, type_, attrs)


def _device(memo: DeviceMemo) -> dict[str, Any]:
    return {
        "v": VERSION,
        "pk": memo.parameters_key,
        "p": [_subject(s) for s in memo.parameters],
        "dk": memo.details_key,
        "d": None if memo.details is None else dict(memo.details),
        "ak": memo.apps_key,
        "a": [_subject(s) for s in memo.apps],
        "r": memo.read_sweep,
        "pa": None if memo.parameters_at == -math.inf else memo.parameters_at,
    }


def _key(value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError("key")


def _device_from(data: Any) -> DeviceMemo | None:
    if not isinstance(data, dict) or data.get("v") != VERSION:
        return None
    try:
        details = data["d"]
        if details is not None and not isinstance(details, dict):
            raise TypeError("details")
        read_sweep = data["r"]
        if not isinstance(read_sweep, int):
            raise TypeError("read_sweep")
        read_at = data.get("pa")  # when the parameters were read (absent: long ago)
        if read_at is not None and (
            not isinstance(read_at, int | float) or not math.isfinite(read_at)
        ):
            raise TypeError("parameters_at")
        return DeviceMemo(
            parameters_key=_key(data["pk"]),
            parameters=tuple(_subject_from(r) for r in data["p"]),
            details_key=_key(data["dk"]),
            details=details,
            apps_key=_key(data["ak"]),
            apps=tuple(_subject_from(r) for r in data["a"]),
            read_sweep=read_sweep,
            parameters_at=-math.inf if read_at is None else float(read_at),
        )
    except (TypeError, ValueError, KeyError):
        return None


def _restore_head(state: PlannerState, head: dict[str, Any]) -> None:
    state.sweeps = int(head["sweeps"])
    for bp, platform, items in head["groups"]:
        state.groups[(str(bp), str(platform))] = frozenset(str(i) for i in items)
    state.blueprint_items = {
        str(bp): tuple(str(i) for i in items) for bp, items in head["blueprint_items"].items()
    }
    state.item_types = {str(k): str(v) for k, v in head["item_types"].items()}
    state.unhealthy_items = {str(i) for i in head["unhealthy_items"]}
    state.item_last_read = {str(k): int(v) for k, v in head["item_last_read"].items()}
    state.items_per_device_below = int(head["items_per_device_below"])
