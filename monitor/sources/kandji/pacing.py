"""How much one sweep may spend, and in which order library items use it.

**Pace.** The tenant's hour is a budget to spread, not to burst: a sweep that spends
the hour in its first minutes leaves the next sweeps waiting for it to come back. So a
paced sweep spends at most what its interval earns (:func:`sweep_pace`): the monitor's
own hourly budget, less its reserve, times ``interval / 3600``; and, once the vendor's
rate-limit headers told what the whole tenant has left, no more than that headroom
spread evenly until the tenant's window resets. Whatever the pace, the budget's own
windows still hold every request (:class:`~monitor.sources.budget.RequestBudget`).

**Shares.** Library items come first; the per-device reads (parameters, which have no
fleet-wide route, details and apps) have their own share of the sweep's allowance
(``per_device_share``) plus whatever the items leave, so they never delay an item. An
item that does not fit is *deferred*: its devices keep what its last read saw
(:mod:`monitor.sources.kandji.outcome` carries those rows for an hour at most), and it
goes first next sweep.

**Order** (:func:`item_order`): the item read longest ago first (never read: first of
all), so every item is read within a cycle of the budget; among items last read in the
same sweep, items with failing rows first (their recoveries are news), then the items
whose devices checked in most since their last read, per page (a status only changes
when its device reports, and reporting is checking in).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from monitor.sources.budget import RequestBudget

HOUR = 3600.0

G = TypeVar("G", bound=Hashable)


def sweep_pace(
    limit_per_hour: int,
    reserve: float,
    interval: float,
    tenant_headroom: int | None = None,
    seconds_to_reset: float = HOUR,
) -> int:
    """Requests one sweep may spend, every read included (see the module doc).

    ``reserve`` is the share of the own hourly budget left unplanned (retries, actions);
    ``tenant_headroom`` what the tenant lets this monitor spend before its window
    resets in ``seconds_to_reset`` (None before any rate-limit header was read).
    """
    if interval <= 0:
        raise ValueError("a paced sweep needs a positive interval")
    own = limit_per_hour * (1.0 - reserve) * interval / HOUR
    if tenant_headroom is None:
        return max(0, math.floor(own))
    tenant = max(0, tenant_headroom) * interval / max(interval, seconds_to_reset)
    return max(0, math.floor(min(own, tenant)))


def budget_pace(budget: RequestBudget, reserve: float, interval: float) -> int:
    """:func:`sweep_pace` from a budget's numbers now (at a sweep's start)."""
    return sweep_pace(
        budget.limit,
        reserve,
        interval,
        budget.tenant.headroom(budget.spent_total, budget.tenant_reserve),
        budget.tenant.seconds_to_reset(),
    )


def plan_allowance(budget: RequestBudget, reserve: float, pace: int | None, spent: int) -> int:
    """What a sweep's plan may spend after ``spent`` requests (device list, feed,
    discovery, probes): what the budget has left now, the own window less ``reserve``
    of it (the tenant's headroom already leaves the tenant's reserve), and no more than
    the rest of ``pace`` (None: not paced)."""
    allowance = budget.own_remaining - math.ceil(budget.limit * reserve)
    headroom = budget.tenant.headroom(budget.spent_total, budget.tenant_reserve)
    if headroom is not None:
        allowance = min(allowance, headroom)
    allowance = max(0, allowance)
    if pace is not None:
        allowance = min(allowance, max(0, pace - spent))
    return allowance


def item_order(
    item_ids: Sequence[str],
    last_read: Mapping[str, int],
    failing: set[str] | frozenset[str],
    news: Mapping[str, float],
) -> list[int]:
    """Positions of ``item_ids`` in reading order (see the module doc).

    ``last_read`` maps an item to the sweep that last read it (absent: never);
    ``news`` to the devices that checked in since, per page of the item.
    """
    return sorted(
        range(len(item_ids)),
        key=lambda k: (
            last_read.get(item_ids[k], -1),
            item_ids[k] not in failing,
            -news.get(item_ids[k], 0.0),
            k,
        ),
    )


def item_news(
    pages: Mapping[str, int],
    groups: Mapping[G, Iterable[str]],
    read_at: Mapping[str, datetime],
    check_ins: Iterable[tuple[G, datetime | None]],
) -> dict[str, float]:
    """Per item of ``pages``, the devices that checked in since its last read
    (``read_at``; never read: every device), per page.

    ``groups`` maps a group of devices to the items they carry, ``check_ins`` gives each
    device's group and last check-in.
    """
    times: dict[G, list[float]] = {}
    for group, at in check_ins:
        if at is not None:
            times.setdefault(group, []).append(at.timestamp())
    for stamps in times.values():
        stamps.sort()
    carriers: dict[str, list[G]] = {}
    for group, ids in groups.items():
        for item_id in ids:
            carriers.setdefault(item_id, []).append(group)
    news: dict[str, float] = {}
    for item_id, count in pages.items():
        since = read_at.get(item_id)
        devices = 0
        for group in carriers.get(item_id, ()):
            stamps = times.get(group, [])
            devices += len(stamps) - (bisect_right(stamps, since.timestamp()) if since else 0)
        news[item_id] = devices / max(1, count)
    return news


def fit(costs: Sequence[int], allowance: int | None, *, head_always: bool = False) -> list[bool]:
    """Which of ``costs`` (in priority order) fit in ``allowance`` (None: all).

    Greedy: a cost that does not fit is skipped and later, smaller ones may still fit.
    ``head_always`` takes the first cost even beyond a (positive) allowance, so a read
    bigger than a whole sweep's allowance is not put off forever.
    """
    if allowance is None:
        return [True] * len(costs)
    left = allowance
    taken: list[bool] = []
    for position, cost in enumerate(costs):
        ok = cost <= left or (head_always and position == 0 and left > 0)
        taken.append(ok)
        if ok:
            left -= cost
    return taken


__all__ = [
    "HOUR",
    "budget_pace",
    "fit",
    "item_news",
    "item_order",
    "plan_allowance",
    "sweep_pace",
]
