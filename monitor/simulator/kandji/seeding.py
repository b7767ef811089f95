"""The seeded draws that give a new simulated fleet its initial state.

Each function takes the fleet's :class:`~.model.FleetSpec` and its construction
generator, so the same seed draws the same fleet.
"""

from __future__ import annotations

import random

from monitor.simulator.kandji.catalog import APPLETV, MAC, MOBILE
from monitor.simulator.kandji.model import (
    _ADE,
    _AVAILABLE,
    _ERROR,
    _FV_OFF,
    _ITEM_CODE,
    _LOST,
    _NO_AGENT,
    _NO_MDM,
    _NO_USER,
    _P_ERROR,
    _P_PASS,
    _P_PENDING,
    _P_REMEDIATED,
    _PARAM_CODE,
    _PASS,
    _PENDING,
    _PFAILED,
    _PPENDING,
    _SUCCESS,
    FleetSpec,
    LibraryItem,
)


def initial_flags(spec: FleetSpec, rng: random.Random, code: int) -> int:
    """The flag bits of a device at construction."""
    flags = 0
    if code == MAC:
        if rng.random() < spec.filevault_off_rate:
            flags |= _FV_OFF
        if rng.random() < 0.005:
            flags |= _NO_AGENT
    if code in MOBILE and rng.random() < spec.lost_mode_rate:
        flags |= _LOST
    if code == APPLETV or rng.random() < spec.unassigned_rate:
        flags |= _NO_USER
    if rng.random() < 0.003:
        flags |= _NO_MDM
    if rng.random() < 0.6:
        flags |= _ADE
    return flags


def initial_item_statuses(spec: FleetSpec, rng: random.Random, item: LibraryItem) -> bytearray:
    """One library item's status on every device at construction."""
    n = spec.devices
    fail = spec.item_failure_rate
    if item.is_profile:
        statuses = bytearray([_SUCCESS]) * n
        mix = [(_PFAILED, fail), (_PPENDING, 0.01)]
    else:
        statuses = bytearray([_PASS]) * n
        mix = [
            (_ERROR, fail),
            (_ITEM_CODE["INCOMPATIBLE"], 0.005),
            (_PENDING, 0.01),
            (_ITEM_CODE["EXCLUDED"], 0.005),
        ]
        if item.self_service:
            mix.append((_AVAILABLE, 0.3))
        if item.type in ("custom-app", "automatic-app"):
            mix += [
                (_ITEM_CODE["CACHED"], 0.002),
                (_ITEM_CODE["DOWNLOADING"], 0.002),
                (_ITEM_CODE["INSTALLING"], 0.002),
            ]
    scatter(rng, statuses, mix)
    return statuses


def initial_param_statuses(spec: FleetSpec, rng: random.Random) -> bytearray:
    """One parameter's status on every device at construction."""
    n = spec.devices
    statuses = bytearray([_P_PASS]) * n
    mix = [
        (_P_ERROR, spec.parameter_failure_rate),
        (_P_REMEDIATED, 0.02),
        (_PARAM_CODE["INCOMPATIBLE"], 0.01),
        (_P_PENDING, 0.01),
    ]
    scatter(rng, statuses, mix)
    return statuses


def scatter(rng: random.Random, statuses: bytearray, mix: list[tuple[int, float]]) -> None:
    """Set a share of the slots to each code in ``mix``, at random positions."""
    n = len(statuses)
    total = sum(rate for _, rate in mix)
    k = min(n, round(n * total))
    if not k:
        return
    positions = rng.sample(range(n), k)
    start = 0
    for code, rate in mix:
        count = round(k * rate / total)
        for pos in positions[start : start + count]:
            statuses[pos] = code
        start += count
