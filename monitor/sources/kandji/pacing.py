"""How much one sweep may spend, and in which order library items use it.

**Pace.** The tenant's hour is a budget to spread, not to burst: a sweep that spends
the hour in its first minutes leaves the next sweeps waiting for it to come back. So a
paced sweep spends at most what its interval earns (:func:`sweep_pace`): the monitor's
own hourly budget, less its reserve, times ``interval / 3600``; and, once the vendor's
rate-limit headers told what the whole tenant has left, no more than that headroom
spread evenly until the tenant's window resets. Whatever the pace, the budget's own
windows still hold every request (:class:`~monitor.sources.budget.RequestBudget`).

**Cadence.** How often an item is read again is what detection latency is made of, and
the budget decides it: a full pass (the device list and feed, every item's pages, and
the per-device share on top) costs so many requests, and the hourly allowance (the own
budget less its reserve, or less when the tenant's headroom says so) earns them back in
``3600 * pass / allowance`` seconds. :func:`budget_cadence` makes that the time between
sweeps, so every sweep can afford a full pass and an item is read again as soon as the
budget allows, within two bounds: never longer than the configured interval (a budget
too small for a full pass in an interval keeps the interval, and items that do not fit
wait as below), never shorter than ``min_interval``. Each sweep's pace is then what its
cadence earns, so the hourly spending is the same whatever the cadence.

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
    tenant_fresh: float = 0.0,
) -> int:
    """Requests one sweep may spend, every read included (see the module doc).

    ``reserve`` is the share of the own hourly budget left unplanned (retries, actions);
    ``tenant_headroom`` what the tenant lets this monitor spend before its window
    resets in ``seconds_to_reset`` (None before any rate-limit header was read), and
    ``tenant_fresh`` what the next window leaves it an hour: a sweep whose interval
    spans the reset also earns that part of the new window.
    """
    if interval <= 0:
        raise ValueError("a paced sweep needs a positive interval")
    own = limit_per_hour * (1.0 - reserve) * interval / HOUR
    if tenant_headroom is None:
        return max(0, math.floor(own))
    tenant = max(0, tenant_headroom) * interval / max(interval, seconds_to_reset)
    tenant += tenant_fresh * max(0.0, interval - seconds_to_reset) / HOUR
    return max(0, math.floor(min(own, tenant)))


def budget_pace(budget: RequestBudget, reserve: float, interval: float) -> int:
    """:func:`sweep_pace` from a budget's numbers now (at a sweep's start)."""
    return sweep_pace(
        budget.limit,
        reserve,
        interval,
        budget.tenant.headroom(budget.spent_total, budget.tenant_reserve),
        budget.tenant.seconds_to_reset(),
        budget.tenant.fresh_per_hour(budget.tenant_reserve),
    )


def plan_allowance(
    budget: RequestBudget, reserve: float, pace: int | None, spent: int, within: float = 0.0
) -> int:
    """What a sweep's plan may spend after ``spent`` requests (device list, feed,
    discovery, probes): what the budget has left, the own window less ``reserve`` of it
    (the tenant's headroom already leaves the tenant's reserve), and no more than the
    rest of ``pace`` (None: not paced).

    A paced sweep counts, in the own window, the requests it frees ``within`` the
    sweep's cadence too: paced sweeps spend an hour's worth in any hour, so at a
    sweep's start the window holds nearly an hour of them, and the sweep of an hour ago
    frees its requests while this one runs. Counting only what is free at the start
    would starve every sweep that comes before the hour-old one's requests left."""
    own = budget.own_remaining if within <= 0 else budget.own_freed_within(within)
    allowance = own - math.ceil(budget.limit * reserve)
    tenant = budget.tenant
    headroom = tenant.headroom(budget.spent_total, budget.tenant_reserve)
    if headroom is not None:
        # A window that resets within the sweep's span adds what it leaves this monitor.
        after = max(0.0, within - tenant.seconds_to_reset())
        fresh = tenant.fresh_per_hour(budget.tenant_reserve) * after / HOUR
        allowance = min(allowance, math.floor(max(0, headroom) + fresh))
    allowance = max(0, allowance)
    if pace is not None:
        allowance = min(allowance, max(0, pace - spent))
    return allowance


def cadence(pass_requests: int, per_hour: float, bound: float, floor: float) -> float:
    """Seconds between sweeps so that each can afford ``pass_requests`` at ``per_hour``
    requests an hour, within ``[floor, bound]`` (see the module doc)."""
    if per_hour <= 0:
        return bound
    return min(bound, max(floor, HOUR * pass_requests / per_hour))


def budget_cadence(
    budget: RequestBudget,
    pass_requests: int,
    *,
    reserve: float,
    share: float,
    bound: float,
    floor: float,
) -> float:
    """:func:`cadence` from a budget's numbers now: ``pass_requests`` is the full pass
    before the per-device ``share`` is added on top of it, the allowance the own budget
    less ``reserve``, or the tenant's headroom spread until its reset when smaller. And
    no sooner than the own window has room for that pass beside the reserve (after a
    cold start, which spends more than a pace, the window holds more than an hour's
    pace until its requests leave it)."""
    per_hour = budget.limit * (1.0 - reserve)
    if budget.tenant.limit is not None:
        # What the tenant leaves this monitor an hour, at the others' projected rate.
        per_hour = min(per_hour, budget.tenant.fresh_per_hour(budget.tenant_reserve))
    # Two requests of slack: the pace is rounded down, the cadence must not be short.
    need = math.ceil(pass_requests / max(1e-9, 1.0 - share) + 2)
    ready = budget.own_ready_in(need + math.ceil(budget.limit * reserve))
    return max(cadence(need, per_hour, bound, floor), min(bound, ready))


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
    "budget_cadence",
    "budget_pace",
    "cadence",
    "fit",
    "item_news",
    "item_order",
    "plan_allowance",
    "sweep_pace",
]
