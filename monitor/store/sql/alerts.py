"""Alerts, sweeps and the alert history on SQL.

A sweep's alert rows, transitions, newly evaluated rule ids and sweep row are written in
one transaction (:meth:`SqlAlerts.commit_sweep`), fenced by the source's lease when one
is given; the history is read back by fingerprint, device or source, or from a time on.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import RowMapping, bindparam, delete, insert, select

from monitor.alerts import StepResult
from monitor.models import Alert, AlertState, SweepStats, Transition
from monitor.store.base import AlertStore
from monitor.store.codec import alert_from_dict, alert_to_dict, dumps, loads, parse_ts, ts
from monitor.store.records import AlertHistoryEntry, Lease, SweepRecord
from monitor.store.schema import alert_history, alerts, known_rules, sweeps
from monitor.store.sql.core import SqlCore, dialect_insert, where_given

log = structlog.get_logger(__name__)


class SqlAlerts(SqlCore, AlertStore):
    """Alerts, sweeps, known rules and the transitions they left."""

    async def load_alerts(self, source: str | None = None) -> dict[str, Alert]:
        stmt = where_given(select(alerts.c.body), (alerts.c.source, source))
        rows = await self._fetchall("load alerts", stmt)
        loaded = (alert_from_dict(loads(row["body"])) for row in rows)
        return {a.fingerprint: a for a in loaded}

    async def known_rules(self, source: str) -> frozenset[str]:
        rows = await self._fetchall(
            "known rules", select(known_rules.c.rule_id).where(known_rules.c.source == source)
        )
        return frozenset(str(r["rule_id"]) for r in rows)

    async def commit_sweep(
        self, stats: SweepStats, result: StepResult, *, lease: Lease | None = None
    ) -> int:
        if result.source != stats.source:
            raise ValueError(f"sweep of {stats.source!r} with a step of {result.source!r}")
        if lease is not None and lease.source != stats.source:
            raise ValueError(f"sweep of {stats.source!r} under the lease of {lease.source!r}")
        dialect = self._dialect
        async with self._write("commit sweep") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, stats.finished_at)
            sweep_id = int(
                (
                    await conn.execute(
                        insert(sweeps)
                        .values(
                            source=stats.source, started_at=ts(stats.started_at),
                            finished_at=ts(stats.finished_at), ok=int(stats.ok),
                            devices=stats.devices, requests=stats.requests,
                            errors=stats.errors, findings=stats.findings, error=stats.error,
                            budget_remaining=stats.budget_remaining,
                            transitions=len(result.transitions), firing=result.firing,
                            instance=None if lease is None else lease.owner,
                            epoch=None if lease is None else lease.epoch,
                        )
                        .returning(sweeps.c.id)
                    )
                ).scalar_one()
            )
            if result.changed:
                ins = dialect_insert(dialect, alerts)
                upsert = ins.on_conflict_do_update(
                    index_elements=[alerts.c.fingerprint],
                    set_={c: ins.excluded[c] for c in
                          ("source", "rule_id", "device_id", "state", "body")},
                )
                await conn.execute(upsert, [_alert_row(a) for a in result.changed.values()])
            if result.deleted:
                await conn.execute(
                    delete(alerts).where(alerts.c.fingerprint == bindparam("fp")),
                    [{"fp": fp} for fp in result.deleted],
                )
            if result.transitions:
                await conn.execute(
                    insert(alert_history),
                    [
                        {
                            "sweep_id": sweep_id, "fingerprint": t.fingerprint,
                            "source": t.alert.finding.source,
                            "device_id": t.alert.finding.device_id, "rule_id": t.alert.rule_id,
                            "previous": None if t.previous is None else t.previous.value,
                            "current": t.current.value, "at": ts(t.at),
                            "alert": dumps(alert_to_dict(t.alert)),
                        }
                        for t in result.transitions
                    ],
                )
            if result.evaluated_rules:
                await conn.execute(
                    dialect_insert(dialect, known_rules).on_conflict_do_nothing(),
                    [
                        {"source": stats.source, "rule_id": r,
                         "first_seen": ts(stats.finished_at)}
                        for r in sorted(result.evaluated_rules)
                    ],
                )
        log.debug(
            "store.sweep_committed", source=stats.source, sweep_id=sweep_id,
            changed=len(result.changed), deleted=len(result.deleted),
            transitions=len(result.transitions),
        )
        return sweep_id

    async def sweeps(self, source: str | None = None, limit: int = 50) -> list[SweepRecord]:
        stmt = where_given(select(sweeps), (sweeps.c.source, source))
        rows = await self._fetchall("sweeps", stmt.order_by(sweeps.c.id.desc()).limit(limit))
        return [_sweep_record(r) for r in rows]

    async def alert_history(
        self,
        *,
        fingerprint: str | None = None,
        device_id: str | None = None,
        source: str | None = None,
        limit: int = 200,
    ) -> list[AlertHistoryEntry]:
        h = alert_history.c
        stmt = where_given(
            select(h.id, h.previous, h.current, h.at, h.alert),
            (h.fingerprint, fingerprint), (h.device_id, device_id), (h.source, source),
        )
        rows = await self._fetchall("alert history", stmt.order_by(h.id.desc()).limit(limit))
        return [_history_entry(r) for r in rows]

    async def transitions_since(
        self, since: datetime, limit: int = 100_000
    ) -> list[AlertHistoryEntry]:
        h = alert_history.c
        rows = await self._fetchall(
            "transitions since",
            select(h.id, h.previous, h.current, h.at, h.alert)
            .where(h.at >= ts(since))
            .order_by(h.at, h.id)
            .limit(limit),
        )
        return [_history_entry(r) for r in rows]


def _alert_row(alert: Alert) -> dict[str, str]:
    f = alert.finding
    return {
        "fingerprint": alert.fingerprint, "source": f.source, "rule_id": f.rule_id,
        "device_id": f.device_id, "state": alert.state.value,
        "body": dumps(alert_to_dict(alert)),
    }


def _history_entry(r: RowMapping) -> AlertHistoryEntry:
    alert = alert_from_dict(loads(r["alert"]))
    previous = None if r["previous"] is None else AlertState(r["previous"])
    transition = Transition(
        alert.fingerprint, previous, AlertState(r["current"]), parse_ts(r["at"]), alert
    )
    return AlertHistoryEntry(id=int(r["id"]), transition=transition)


def _sweep_record(r: RowMapping) -> SweepRecord:
    stats = SweepStats(
        source=r["source"],
        started_at=parse_ts(r["started_at"]),
        finished_at=parse_ts(r["finished_at"]),
        ok=bool(r["ok"]),
        devices=int(r["devices"]),
        requests=int(r["requests"]),
        errors=int(r["errors"]),
        findings=int(r["findings"]),
        error=r["error"],
        budget_remaining=r["budget_remaining"],
        firing=int(r["firing"]),
        transitions=int(r["transitions"]),
    )
    return SweepRecord(
        id=int(r["id"]), stats=stats, instance=r["instance"],
        epoch=None if r["epoch"] is None else int(r["epoch"]),
    )
