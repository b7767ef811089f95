"""The planned sweep of a Kandji tenant: library items fleet-wide, per device only what must be.

One sweep, in order (see :mod:`monitor.sources.kandji.planner` for the cost model):

1. the device list (every sweep: it carries the device facts and ``last_check_in``);
2. when library-item rules are on, the audit feed from where it stopped, and discovery
   (``GET /blueprints`` and each blueprint's item list) only when the feed shows a
   blueprint or library item change, or at a slow safety cadence
   (:mod:`monitor.sources.kandji.discovery`);
3. group probes: one ``GET /devices/{id}/status`` per (blueprint, platform) group not
   seen before, to learn which items its devices carry and each item's type;
4. the plan's reads, concurrently under the tenant's budget: each item's fleet-wide
   status pages, then the per-device reads of devices that checked in since their last
   read (parameters, details, apps), Lost Mode reads and ``/status`` reads of devices
   whose blueprint is not listed.

Only subjects an enabled rule could match are kept (the :class:`SubjectFilter` given by
the composition root from the rule set's status/type index): a sweep of 100,000 devices
with 60 items each keeps a few thousand subjects, not millions, and the findings are the
ones the per-device sweep gives. Coverage is exact: a device's library items count as
observed only when every item its group carries was read to the end; its parameters,
details and apps when read this sweep or read before and not checked in since.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import TypeVar

import structlog

from monitor.errors import NotFoundError, SourceError, is_auth_error
from monitor.models import Coverage, Device, FactKind, Subject
from monitor.sources.base import SweepOutcome, SweepProgress
from monitor.sources.kandji import memo as stored
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.collections_scope import fewer_collections
from monitor.sources.kandji.discovery import DEFAULT_EVERY, Discovery, Rediscovery
from monitor.sources.kandji.item_reads import read_item
from monitor.sources.kandji.mapping import (
    app_subject,
    details_attrs,
    library_item_subject,
    parameter_subject,
    to_device,
)
from monitor.sources.kandji.models import KDeviceStatus, KParameter
from monitor.sources.kandji.outcome import Run, SweepReport, assemble
from monitor.sources.kandji.pacing import budget_cadence, budget_pace, plan_allowance
from monitor.sources.kandji.planner import (
    MAC,
    DeviceMemo,
    PlannerState,
    SubjectFilter,
    SweepPlan,
    group_of,
    keep_every_subject,
    plan_probes,
    plan_sweep,
)
from monitor.sources.kandji.prism_facts import PrismMirror
from monitor.sources.kandji.reads import read_lost_mode

log = structlog.get_logger(__name__)

T = TypeVar("T")


class KandjiPlannedSweeper:
    """Sweeps a Kandji tenant at the lowest request cost that keeps every rule's facts fresh.

    ``keep`` drops subjects no enabled rule can match (default: keep all).
    ``healthy_item_every`` lets healthy items be read one sweep in that many (1: every
    item every sweep; see :mod:`monitor.sources.kandji.planner` for the trade-off).
    ``budget_reserve`` is the share of the hourly budget a sweep leaves unplanned (for
    retries and actions). ``interval`` (seconds between sweeps) paces every sweep after
    the first to what its interval earns of the budget (None: no pacing; see
    :mod:`monitor.sources.kandji.pacing`), of which ``per_device_share`` goes to the
    per-device reads; paced sweeps come as often as the budget affords a full pass,
    between ``min_interval`` and ``interval`` (:attr:`cadence`). A Mac's parameters are
    read at most once per ``parameters_every`` seconds. Blueprints are listed again as
    :mod:`monitor.sources.kandji.discovery` says, at least every ``rediscover_every``
    seconds (every sweep with ``audit_feed`` False). ``prism_fields`` (the details
    fields the rules read, all served by Prism) reads details through Prism
    (:mod:`monitor.sources.kandji.prism_facts`) instead of ``/details`` where it can.
    The sweeper keeps its memory of earlier sweeps in :attr:`state` and describes its
    last sweep in :attr:`last_report`.
    """

    def __init__(
        self,
        client: KandjiClient,
        source: str,
        *,
        keep: SubjectFilter | None = None,
        healthy_item_every: int = 1,
        budget_reserve: float = 0.05,
        rediscover_every: float = DEFAULT_EVERY,
        interval: float | None = None,
        per_device_share: float = 0.0,
        parameters_every: float = 0.0,
        prism_fields: frozenset[str] | None = None,
        audit_feed: bool = True,
        min_interval: float = 60.0,
    ) -> None:
        if healthy_item_every < 1:
            raise ValueError("healthy_item_every must be >= 1")
        if not 0.0 <= per_device_share <= 1.0:
            raise ValueError("per_device_share must be between 0 and 1")
        self.client = client
        self.source = source
        self.keep: SubjectFilter = keep or keep_every_subject
        self.healthy_item_every = healthy_item_every
        self.budget_reserve = budget_reserve
        self.interval = interval
        self.min_interval = min(min_interval, interval or min_interval)
        self._cadence = interval
        self.per_device_share = per_device_share
        self.parameters_every = parameters_every
        self.clock = client.api.clock
        self.state = PlannerState()
        self.discovery = Rediscovery(self.clock, rediscover_every, feed=audit_feed)
        self.prism = None if prism_fields is None else PrismMirror(prism_fields, self.clock)
        self.last_report: SweepReport | None = None
        self.progress: SweepProgress | None = None
        # What the store holds of the memory: its head entry and device ids, and the
        # devices read since (see memo_changes).
        self._saved_head = ""
        self._saved_devices: set[str] = set()
        self._dirty: set[str] = set()

    # ------------------------------------------------------------------ memory (Remembers)

    def memo_changes(self) -> dict[str, str | None]:
        """The entries of :attr:`state` that changed since the last call: the devices
        read since (every memo write goes through :meth:`_memo`), those forgotten, and
        the head when it differs."""
        devices = self.state.devices
        changed: dict[str, str | None] = {
            stored.DEVICE_PREFIX + did: stored.encode_device(devices[did])
            for did in self._dirty if did in devices
        }
        changed.update(dict.fromkeys(
            (stored.DEVICE_PREFIX + did for did in self._saved_devices - devices.keys()), None
        ))
        head = stored.encode_head(self.state)
        if head != self._saved_head:
            changed[stored.STATE_KEY] = head
        self._saved_head, self._saved_devices, self._dirty = head, set(devices), set()
        return changed

    def restore_memo(self, entries: Mapping[str, str]) -> None:
        """Start from the state the store kept (see :mod:`monitor.sources.kandji.memo`)."""
        self.state = stored.decode(entries)
        self._saved_head = entries.get(stored.STATE_KEY, "")
        self._saved_devices = {
            k[len(stored.DEVICE_PREFIX):] for k in entries if k.startswith(stored.DEVICE_PREFIX)
        }
        self._dirty = set()

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.client.close()

    @property
    def cadence(self) -> float | None:
        """Seconds from this sweep's start to the next one's, as the budget affords a full
        pass (see :mod:`monitor.sources.kandji.pacing`); None when not paced."""
        return self._cadence

    # ------------------------------------------------------------------ the sweep

    async def sweep(self, needs: frozenset[FactKind]) -> SweepOutcome:
        """Read what ``needs`` asks for every device, as the plan decides."""
        with fewer_collections():
            return await self._sweep(needs)

    async def _sweep(self, needs: frozenset[FactKind]) -> SweepOutcome:
        client = self.client
        start = client.requests_made
        state = self.state
        started = self.clock.now()
        budget = client.budget
        span = self._cadence
        pace = None if span is None else budget_pace(budget, self.budget_reserve, span)
        out = SweepOutcome(source=self.source, coverage=Coverage(source=self.source))
        devices: dict[str, Device] = {}
        try:
            # The consistent read (overlapping pages, re-read when the list shifts), so
            # no device is skipped; each page's records are mapped and dropped at once.
            for dev in await client.list_devices_as(partial(to_device, self.source)):
                if dev.device_id:
                    devices[dev.device_id] = dev
        except SourceError as exc:
            out.ok = False
            out.auth_failed = is_auth_error(exc)
            out.errors.append(f"list devices: {exc}")
            out.requests = client.requests_made - start
            return out
        state.forget_devices_except(devices)
        device_list = list(devices.values())
        kinds = frozenset(k for k in needs if k is not FactKind.DEVICE)

        found = Discovery()
        run = Run(devices, kinds, state.sweeps, {}, started)
        per_device: bool | None = None
        if FactKind.LIBRARY_ITEMS in kinds:
            if len(devices) < state.items_per_device_below:
                per_device = True  # still a small fleet: no discovery needed
            else:
                found = await self.discovery.current(client, self._pool, run.fail)
                run.signatures = found.signatures
        if FactKind.DETAILS in kinds and self.prism is not None:
            self.prism.forget_except(devices)
            await self.prism.refresh(client.api, run.fail)
        discovery = client.requests_made - start

        if found.items is not None:
            state.observe_blueprints(found.items)
            state.forget_items_except(i for ids in found.items.values() for i in ids)
            probes = plan_probes(state, device_list, found.items)
            await self._pool(self._probe(run, dev) for dev in probes)
        probe_spent = client.requests_made - start - discovery

        allowance = plan_allowance(
            budget, self.budget_reserve, pace, client.requests_made - start, span or 0.0
        )
        plan = self._plan(run, device_list, found, per_device, allowance)
        if plan.items_per_device and found.items is not None:
            state.items_per_device_below = 1 + len(found.listed) + plan.bulk_item_pages
        elif not plan.items_per_device:
            state.items_per_device_below = 0
        if self.progress is not None:
            total = sum(
                len(reads)
                for reads in (
                    plan.items,
                    plan.status_reads,
                    plan.parameter_reads,
                    plan.details_reads,
                    plan.apps_reads,
                    plan.lost_mode_reads,
                )
            )
            self.progress.work_planned(self.source, total, "reads")
        # Lazily: a large fleet's plan is tens of thousands of reads.
        await self._pool(self._counted(job) for job in self._jobs(run, plan))

        assemble(out, run, found, plan, self.state, self.prism)
        out.requests = client.requests_made - start
        out.errors.extend(run.errors)
        if run.failures > len(run.errors):
            out.errors.append(f"... and {run.failures - len(run.errors)} more failed reads")
        if run.failures:
            out.ok = False
        report = SweepReport(
            sweep=state.sweeps,
            discovery_requests=discovery,
            probe_requests=probe_spent,
            plan=plan,
            requests=out.requests,
            started_at=started,
            pace=pace,
            allowance=allowance,
        )
        self.last_report = report
        if self.interval is not None and not plan.items_per_device:
            self._cadence = budget_cadence(
                budget, discovery + plan.bulk_item_pages + len(plan.lost_mode_reads),
                reserve=self.budget_reserve, share=self.per_device_share,
                bound=self.interval, floor=self.min_interval,
            )
        state.sweeps += 1
        log.info(
            "sweep.planned",
            source=self.source,
            sweep=report.sweep,
            devices=len(devices),
            requests=out.requests,
            predicted=report.predicted_requests,
            discovery=discovery,
            probes=probe_spent,
            items=len(plan.items),
            item_pages=plan.item_pages,
            rotated=len(plan.rotated_out),
            deferred_items=len(plan.deferred_items),
            pace=pace,
            allowance=allowance,
            cadence=self._cadence,
            status_reads=len(plan.status_reads),
            parameter_reads=len(plan.parameter_reads),
            details_reads=len(plan.details_reads),
            apps_reads=len(plan.apps_reads),
            lost_mode_reads=len(plan.lost_mode_reads),
            deferred=len(plan.deferred),
            failures=run.failures,
            budget_remaining=client.budget.remaining,
        )
        return out

    def _plan(
        self,
        run: Run,
        device_list: list[Device],
        found: Discovery,
        per_device: bool | None,
        allowance: int,
    ) -> SweepPlan:
        """The plan within ``allowance``: items first (all of them on a first sweep, when
        nothing is known), per-device reads in their share and what the items leave."""
        return plan_sweep(
            self.state,
            device_list,
            run.needs,
            blueprint_items=found.items,
            listed_blueprints=found.listed,
            item_names=found.names,
            blueprint_signatures=found.signatures,
            allowance=allowance,
            per_device_share=self.per_device_share,
            pace_items=self.state.sweeps > 0,
            healthy_item_every=self.healthy_item_every,
            page_size=self.client.page_size,
            items_per_device=per_device,
            now=self.clock.now().timestamp(),
            parameters_every=self.parameters_every,
            details_elsewhere=None if self.prism is None else self._prism_covers,
        )

    def _prism_covers(self, dev: Device) -> bool:
        return self.prism is not None and self.prism.covers(dev.platform)

    async def _counted(self, job: Awaitable[None]) -> None:
        try:
            await job
        finally:
            if self.progress is not None:
                self.progress.work_done(self.source)

    async def _pool(self, jobs: Iterable[Awaitable[None]]) -> None:
        """Await ``jobs`` a few at a time (the budget's concurrency), never all at once."""
        width = max(1, self.client.budget.config.concurrency)
        queue: Iterator[Awaitable[None]] = iter(jobs)

        async def worker() -> None:
            for job in queue:  # one shared iterator: each job is taken by one worker
                await job

        await asyncio.gather(*(worker() for _ in range(width)))

    def _jobs(self, run: Run, plan: SweepPlan) -> Iterator[Awaitable[None]]:
        """The plan's reads, bulk first."""
        run.status_due = set(plan.status_reads)
        for item in plan.items:
            yield read_item(self.client, self.state, self.keep, run, item)
        for did in plan.status_reads:
            yield self._read_status(run, run.devices[did])
        for did in plan.parameter_reads:
            yield self._read_parameters(run, run.devices[did])
        for did in plan.details_reads:
            yield self._read_details(run, run.devices[did])
        for did in plan.apps_reads:
            yield self._read_apps(run, run.devices[did])
        for did in plan.lost_mode_reads:
            yield self._read_lost_mode(run, did)

    # ------------------------------------------------------------------ memory

    def _memo(self, device_id: str) -> DeviceMemo:
        self._dirty.add(device_id)  # about to be written: saved with the next memo_changes
        memo = self.state.devices.get(device_id)
        if memo is None:
            memo = self.state.devices[device_id] = DeviceMemo()
        return memo

    def _kept(self, subjects: Iterable[Subject]) -> list[Subject]:
        """The subjects an enabled rule could match (see ``keep``)."""
        return [s for s in subjects if self.keep(s.kind, s.status, s.type)]

    def _store_parameters(self, run: Run, dev: Device, rows: list[KParameter]) -> None:
        memo = self._memo(dev.device_id)
        memo.parameters = tuple(self._kept(parameter_subject(r) for r in rows))
        memo.parameters_key = run.key(dev)
        memo.parameters_at = self.clock.now().timestamp()
        memo.read_sweep = run.sweep

    async def _read(
        self, run: Run, what: str, dev: Device, read: Callable[[str], Awaitable[T]]
    ) -> T | None:
        """``read``'s answer about ``dev``; None when the device is gone (404) or the read
        failed (the failure noted in ``run``, so the device's facts of that kind are
        held)."""
        try:
            return await read(dev.device_id)
        except NotFoundError:
            return None
        except SourceError as exc:
            run.fail(f"device {dev.device_id} {what}", exc)
            return None

    async def _read_device_status(self, run: Run, dev: Device) -> KDeviceStatus | None:
        """A device's ``/status``; the parameters it carries are stored when the rules
        need a Mac's."""
        status = await self._read(run, "status", dev, self.client.get_device_status)
        if status is not None and FactKind.PARAMETERS in run.needs and dev.platform == MAC:
            self._store_parameters(run, dev, status.parameters)
        return status

    async def _probe(self, run: Run, dev: Device) -> None:
        """Learn a group's items and types from one device's ``/status``."""
        status = await self._read_device_status(run, dev)
        if status is not None:
            items = ((r.item_id, r.type) for r in status.library_items if r.item_id)
            self.state.learn_group(group_of(dev), items)

    # ------------------------------------------------------------------ the plan's reads

    async def _read_status(self, run: Run, dev: Device) -> None:
        """``/status`` of a device with no bulk route (its blueprint is not listed)."""
        status = await self._read_device_status(run, dev)
        if status is not None:
            run.library[dev.device_id] = self._kept(map(library_item_subject, status.library_items))
            run.status_read.add(dev.device_id)

    async def _read_parameters(self, run: Run, dev: Device) -> None:
        answer = await self._read(run, "parameters", dev, self.client.get_device_parameters)
        if answer is not None:
            self._store_parameters(run, dev, answer.parameters)

    async def _read_details(self, run: Run, dev: Device) -> None:
        details = await self._read(run, "details", dev, self.client.get_device_details)
        if details is not None:
            memo = self._memo(dev.device_id)
            memo.details = details_attrs(details)
            memo.details_key = run.key(dev)
            memo.read_sweep = run.sweep

    async def _read_apps(self, run: Run, dev: Device) -> None:
        answer = await self._read(run, "apps", dev, self.client.get_device_apps)
        if answer is not None:
            memo = self._memo(dev.device_id)
            memo.apps = tuple(self._kept(map(app_subject, answer.apps)))
            memo.apps_key = run.key(dev)
            memo.read_sweep = run.sweep

    async def _read_lost_mode(self, run: Run, device_id: str) -> None:
        try:
            # Only devices the list shows in Lost Mode are read; a 400 (turned off since
            # the list was read) is "none".
            lost = await read_lost_mode(self.client, device_id, run.devices[device_id].platform)
        except NotFoundError:
            return
        except SourceError as exc:
            run.lost_failed.add(device_id)
            run.fail(f"device {device_id} lost mode", exc)
            return
        run.lost[device_id] = self._kept(lost)

__all__ = ["KandjiPlannedSweeper"]
