"""Running the actions rules ask for: opt-in, capped, cooled down, audited.

:class:`ActionRunner` takes one sweep's transitions and runs, for each alert that
starts firing (trigger ``first``) or keeps firing (trigger ``repeat``), the actions
its rule declares for that trigger. Safety, in the order it is checked:

1. nothing at all unless ``actions.enabled`` is true in the config, and nothing for a
   rule that does not declare the action (or that is disabled);
2. baseline alerts (recorded at a first start, never announced) trigger nothing;
3. a request that cannot run (unknown type, bad params, wrong source kind, invalid id,
   no client) is *refused*;
4. the same action (type and params) on the same device is never attempted twice
   within its ``cooldown`` (attempts that reached the API count, failed ones too, so a
   failing action is not hammered; a refusal is recorded once per cool-down);
5. at most ``per_sweep`` attempts of one action type per run and ``per_hour`` per
   sliding hour (``actions.per_action.<type>`` overrides ``actions.limits``);
6. a dry run (``actions.dry_run`` or ``dry_run=True``) records what would be sent and
   sends nothing; it applies caps and cool-downs as a real run would (counting its own
   earlier dry-run entries, which a real run ignores).

Every outcome except a cool-down skip is written to the audit (the store's actions
table) *before* the next action runs; when the audit cannot be written the run stops
with the store's error. A failed or refused action becomes an open failure, reported
as a ``monitor.action.failed`` finding (:meth:`ActionRunner.failure_findings`) until
the same action later succeeds on the device or the alert that triggered it resolves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType

import structlog

from monitor.actions.audit import ActionEntry, encode_detail, entry
from monitor.actions.base import (
    ATTEMPTED,
    ActionClient,
    ActionRequest,
    ActionResult,
    ActionStatus,
    Executor,
    Outcome,
    Trigger,
)
from monitor.actions.catalog import default_executors
from monitor.clock import Clock
from monitor.config import ActionLimits, ActionsConfig
from monitor.engine import Rule
from monitor.errors import AuthError, NotFoundError, PermissionDeniedError, SourceError
from monitor.models import (
    Alert,
    AlertState,
    Device,
    Finding,
    Severity,
    SourceKind,
    SubjectKind,
    Transition,
    device_ref,
)
from monitor.store.base import Store

log = structlog.get_logger(__name__)

ACTION_FAILED_RULE = "monitor.action.failed"
"""The rule id of the finding a failed or refused action raises."""

HOUR = timedelta(hours=1)
RESTORE_HORIZON = timedelta(days=7)
_HISTORY_LIMIT = 100_000


def action_failure_finding(result: ActionResult) -> Finding:
    """The ``monitor.action.failed`` finding of a failed or refused action.

    Its fingerprint is stable per source, device and action (type and params), so
    repeated failures are one alert, resolved when the action succeeds or its cause
    resolves.
    """
    req = result.request
    device = req.device_name or req.device_id
    verb = "was refused" if result.status is ActionStatus.REFUSED else "failed"
    return Finding(
        **device_ref(req),
        rule_id=ACTION_FAILED_RULE,
        subject_kind=SubjectKind.ACTION,
        subject_id=req.subject_id,
        subject_name=req.action,
        subject_status=result.status.value,
        severity=Severity.WARNING,
        summary=f"Action {req.action} {verb} on {device}: {result.message}",
        description=(
            f"Rule {req.rule_id} asked for {req.action} on {device} "
            f"({req.trigger} trigger) at {result.at.isoformat()}; it {verb}: {result.message}"
        ),
        labels=MappingProxyType({"action": req.action, "trigger_rule": req.rule_id}),
    )


def _error_text(exc: SourceError) -> str:
    """What an API error means for an action, in one line."""
    if isinstance(exc, AuthError):
        return f"the token was refused (401): {exc}"
    if isinstance(exc, PermissionDeniedError):
        return f"the token is not allowed to do this (403): {exc}"
    if isinstance(exc, NotFoundError):
        return f"the device was not found (404): {exc}"
    return str(exc)


class _History:
    """Earlier outcomes, for the cool-downs and the hourly caps.

    Attempts that reached the API count for both; a refusal starts a cool-down too (so
    a misconfigured action is recorded once per cool-down, not every sweep) but takes
    no share of a cap. A dry run also counts its own earlier dry-run entries.
    """

    def __init__(self, entries: Iterable[ActionEntry], *, dry_run: bool) -> None:
        capped = {s.value for s in ATTEMPTED}
        if dry_run:
            capped.add(ActionStatus.DRY_RUN.value)
        self._capped = frozenset(capped)
        self._cooled = frozenset({*capped, ActionStatus.REFUSED.value})
        self._last: dict[tuple[str, str, str], datetime] = {}
        self._attempts: dict[str, list[datetime]] = {}
        for e in entries:
            self.add(e.action, e.device_key, e.params_key, e.at, e.result)

    def add(self, action: str, device_key: str, params_key: str, at: datetime, result: str) -> None:
        """Remember one outcome."""
        if result in self._cooled:
            key = (action, device_key, params_key)
            seen = self._last.get(key)
            if seen is None or at > seen:
                self._last[key] = at
        if result in self._capped:
            self._attempts.setdefault(action, []).append(at)

    def last(self, identity: tuple[str, str, str]) -> datetime | None:
        """When this action last ran (or was refused) on this device; None: never."""
        return self._last.get(identity)

    def count_since(self, action: str, since: datetime) -> int:
        """Attempts of one action type since ``since``."""
        return sum(1 for at in self._attempts.get(action, ()) if at > since)


class ActionRunner:
    """Runs, caps, cools down and audits the actions rules declare.

    ``clients`` maps source names to their clients (the same instances the sweeps use,
    :attr:`monitor.sources.base.SourceParts.client`, so actions spend the same
    request budget). ``audit`` is the store (its ``record_action``/``actions``).
    """

    def __init__(
        self,
        config: ActionsConfig,
        audit: Store,
        clients: Mapping[str, ActionClient],
        clock: Clock,
        *,
        executors: Mapping[str, Executor] | None = None,
    ) -> None:
        self.config = config
        self.audit = audit
        self.clients = clients
        self.clock = clock
        self.executors: Mapping[str, Executor] = (
            executors if executors is not None else default_executors()
        )
        self._open: dict[tuple[str, str, str], ActionResult] = {}

    def limits(self, action: str) -> ActionLimits:
        """The caps and cool-down of one action type."""
        return self.config.per_action.get(action, self.config.limits)

    # ------------------------------------------------------------------ requests

    def requests(
        self,
        transitions: Sequence[Transition],
        rules_by_id: Mapping[str, Rule],
        devices: Mapping[str, Device],
        *,
        firing: Iterable[Alert] = (),
    ) -> list[ActionRequest]:
        """The actions these transitions (and still-firing alerts) call for, in run order.

        Run order: most severe alert first, then by fingerprint, so when a cap bites
        the critical alerts got their actions.
        """
        triggered: dict[str, tuple[Alert, Trigger]] = {}
        for t in transitions:
            if t.current is AlertState.FIRING and t.previous is not AlertState.FIRING:
                triggered[t.fingerprint] = (t.alert, "first")
        for alert in firing:
            if alert.state is AlertState.FIRING and alert.fingerprint not in triggered:
                triggered[alert.fingerprint] = (alert, "repeat")
        ordered = sorted(
            triggered.values(),
            key=lambda pair: (-pair[0].severity.rank, pair[0].fingerprint),
        )
        out: list[ActionRequest] = []
        for alert, trigger in ordered:
            if alert.baseline:
                continue
            rule = rules_by_id.get(alert.rule_id)
            if rule is None or not rule.enabled:
                continue
            finding = alert.finding
            device = devices.get(finding.device_id)
            if device is not None and device.source != finding.source:
                device = None
            for action in rule.actions:
                if trigger not in action.on:
                    continue
                out.append(
                    ActionRequest(
                        **device_ref(finding), action=action.type, params=action.params,
                        rule_id=rule.id, trigger=trigger, fingerprint=alert.fingerprint,
                        device=device,
                    )
                )
        return out

    # ------------------------------------------------------------------ running

    async def run(
        self,
        transitions: Sequence[Transition],
        rules_by_id: Mapping[str, Rule],
        devices: Mapping[str, Device],
        *,
        dry_run: bool = False,
        firing: Iterable[Alert] = (),
    ) -> list[ActionResult]:
        """Run the actions one sweep's transitions call for; every outcome, in order.

        ``devices``: the sweep's devices by id (platform checks). ``firing``: alerts
        still firing after the sweep (for ``repeat`` triggers). ``dry_run`` (or the
        config's) sends nothing. Resolved transitions close the open failures of the
        alerts they resolve. Raises StoreError when the audit cannot be written.
        """
        for t in transitions:
            if t.current is AlertState.RESOLVED:
                self._close_failures_of(t.fingerprint)
        if not self.config.enabled:
            return []
        requests = self.requests(transitions, rules_by_id, devices, firing=firing)
        if not requests:
            return []
        dry = dry_run or self.config.dry_run
        now = self.clock.now()
        history = await self._history(now, {r.action for r in requests}, dry_run=dry)
        this_run: dict[str, int] = {}
        results: list[ActionResult] = []
        for req in requests:
            result = await self._one(req, now, history, this_run, dry)
            results.append(result)
            if result.status in ATTEMPTED or result.status is ActionStatus.DRY_RUN:
                this_run[req.action] = this_run.get(req.action, 0) + 1
            self._track(result)
        counts = {f"n_{s.value}": sum(1 for r in results if r.status is s) for s in ActionStatus}
        log.info("actions", requests=len(requests), dry_run=dry, **counts)
        return results

    async def _history(self, now: datetime, actions: set[str], *, dry_run: bool) -> _History:
        longest = max([HOUR, *(self.limits(a).cooldown for a in actions)])
        records = await self.audit.actions(since=now - longest, limit=_HISTORY_LIMIT)
        return _History((entry(r) for r in records if r.action in actions), dry_run=dry_run)

    async def _one(
        self,
        req: ActionRequest,
        now: datetime,
        history: _History,
        this_run: Mapping[str, int],
        dry: bool,
    ) -> ActionResult:
        limits = self.limits(req.action)
        last = history.last(req.identity)
        if last is not None and now - last < limits.cooldown:
            log.debug("action.cooldown", action=req.action, device=req.device_key, rule=req.rule_id)
            return ActionResult(
                req,
                ActionStatus.COOLDOWN,
                f"already tried at {last.isoformat()}; cool-down {limits.cooldown}",
                now,
                dry_run=dry,
            )
        executor = self.executors.get(req.action)
        client = self.clients.get(req.source)
        refusal = self._refusal(req, executor, client)
        if refusal is not None or executor is None or client is None:
            return await self._record(req, ActionStatus.REFUSED, refusal or "", now, dry, history)
        if this_run.get(req.action, 0) >= limits.per_sweep:
            return await self._record(
                req, ActionStatus.CAPPED,
                f"per-sweep cap of {limits.per_sweep} {req.action} reached", now, dry, history,
            )
        hourly = history.count_since(req.action, now - HOUR)
        if hourly >= limits.per_hour:
            return await self._record(
                req, ActionStatus.CAPPED,
                f"hourly cap of {limits.per_hour} {req.action} reached", now, dry, history,
            )
        if dry:
            return await self._record(
                req, ActionStatus.DRY_RUN,
                f"would send: {executor.describe(req, client)}", now, dry, history,
            )
        try:
            outcome = await executor.execute(req, client)
        except SourceError as exc:
            outcome = Outcome(ActionStatus.FAILED, _error_text(exc))
        except ValueError as exc:
            outcome = Outcome(ActionStatus.REFUSED, str(exc))
        return await self._record(
            req, outcome.status, outcome.message, self.clock.now(), dry, history, outcome
        )

    def _refusal(
        self, req: ActionRequest, executor: Executor | None, client: ActionClient | None
    ) -> str | None:
        if executor is None:
            return f"unknown action type {req.action!r}"
        if executor.source_kind != req.source_kind:
            return (
                f"{req.action} acts on {executor.source_kind.value} sources; "
                f"{req.source} is {req.source_kind.value}"
            )
        reason = executor.check(req.params)
        if reason is not None:
            return f"bad params: {reason}"
        if client is None:
            return f"no client for source {req.source!r}"
        return executor.refusal(req, client)

    async def _record(
        self,
        req: ActionRequest,
        status: ActionStatus,
        message: str,
        at: datetime,
        dry: bool,
        history: _History,
        outcome: Outcome | None = None,
    ) -> ActionResult:
        result = ActionResult(req, status, message, at, dry_run=dry)
        detail = encode_detail(result, outcome.details if outcome is not None else None)
        audit_id = await self.audit.record_action(
            req.action, req.device_key, req.who, at, status.value, detail
        )
        history.add(req.action, req.device_key, req.params_key, at, status.value)
        log_method = log.warning if status.is_failure or status is ActionStatus.CAPPED else log.info
        log_method(
            "action",
            action=req.action,
            source=req.source,
            device=req.device_id,
            device_name=req.device_name,
            rule=req.rule_id,
            trigger=req.trigger,
            result=status.value,
            dry_run=dry,
            message=message,
        )
        return ActionResult(req, status, message, at, dry_run=dry, audit_id=audit_id)

    # ------------------------------------------------------------------ failures

    def _track(self, result: ActionResult) -> None:
        key = result.request.identity
        if result.failed:
            self._open[key] = result
        elif result.status in (ActionStatus.DONE, ActionStatus.NOT_NEEDED):
            self._open.pop(key, None)

    def _close_failures_of(self, fingerprint: str) -> None:
        for key in [k for k, r in self._open.items() if r.request.fingerprint == fingerprint]:
            del self._open[key]

    @property
    def open_failures(self) -> list[ActionResult]:
        """The failed or refused actions not yet succeeded nor resolved, oldest first."""
        return sorted(self._open.values(), key=lambda r: r.at)

    def failure_findings(self, source: str | None = None) -> list[Finding]:
        """``monitor.action.failed`` findings of the open failures (of one source).

        Feed them to the alert state machine with the source's other findings on every
        sweep: the alert fires while the failure is open and resolves once it closes.
        """
        return [
            action_failure_finding(r)
            for r in self.open_failures
            if source is None or r.request.source == source
        ]

    async def restore(self, alerts: Mapping[str, Alert]) -> int:
        """Reopen, after a restart, the failures whose triggering alert still holds.

        Reads the audit of the last week: per action and device, the latest outcome; a
        failure or refusal is reopened when ``alerts`` (the stored alerts) still has its
        triggering alert pending or firing. Returns how many were reopened.
        """
        now = self.clock.now()
        records = await self.audit.actions(since=now - RESTORE_HORIZON, limit=_HISTORY_LIMIT)
        latest: dict[tuple[str, str, str], ActionEntry] = {}
        for e in sorted((entry(r) for r in records), key=lambda e: (e.at, e.id)):
            if e.result in (s.value for s in (*ATTEMPTED, ActionStatus.REFUSED)):
                latest[(e.action, e.device_key, e.params_key)] = e
        reopened = 0
        for key, e in latest.items():
            if e.result not in (ActionStatus.FAILED.value, ActionStatus.REFUSED.value):
                continue
            alert = alerts.get(e.fingerprint)
            if alert is None or alert.state is AlertState.RESOLVED:
                continue
            finding = alert.finding
            req = ActionRequest(
                action=e.action,
                params=MappingProxyType(json.loads(e.params_key)),
                rule_id=e.who.removeprefix("rule:"),
                trigger="repeat" if e.trigger == "repeat" else "first",
                fingerprint=e.fingerprint,
                source=e.source,
                source_kind=SourceKind(finding.source_kind),
                device_id=e.device_id,
                device_name=e.device_name or finding.device_name,
                device_serial=finding.device_serial,
            )
            self._open[key] = ActionResult(
                req, ActionStatus(e.result), e.message, e.at, dry_run=e.dry_run, audit_id=e.id
            )
            reopened += 1
        return reopened


__all__ = [
    "ACTION_FAILED_RULE",
    "ActionRunner",
    "action_failure_finding",
]
