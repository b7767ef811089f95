"""Helpers for the notification tests: config, findings, sweeps, a recording sender."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.alerts import StepResult, step
from monitor.config import Config, ReceiverConfig
from monitor.errors import DeliveryError
from monitor.models import (
    Alert,
    Coverage,
    FactKind,
    Finding,
    Severity,
    SourceKind,
    SubjectKind,
    SweepStats,
)
from monitor.notify.outgoing import Outgoing
from monitor.store import SqlStore
from monitor.store.base import BodyFormat

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_config(
    *,
    receivers: Sequence[Mapping[str, Any]] | None = None,
    route: Mapping[str, Any] | None = None,
    silences: Sequence[Mapping[str, Any]] = (),
    notify: Mapping[str, Any] | None = None,
) -> Config:
    """A valid config with one Kandji source and, by default, one console receiver."""
    return Config.model_validate(
        {
            "sources": [
                {"kind": "kandji", "name": "acme", "url": "https://acme.api.kandji.io",
                 "token": "t"}
            ],
            "receivers": list(receivers or [{"name": "ops", "console": True}]),
            "route": dict(route or {"receiver": "ops"}),
            "silences": list(silences),
            "notify": dict(notify or {}),
        }
    )


def finding(
    device: str = "d1",
    item: str = "i1",
    *,
    rule: str = "kandji.library-item.failed",
    source: str = "acme",
    severity: Severity = Severity.WARNING,
    keep_s: float = 0.0,
    labels: Mapping[str, str] | None = None,
) -> Finding:
    return Finding(
        rule_id=rule,
        source=source,
        source_kind=SourceKind("kandji"),
        device_id=device,
        device_name=f"Mac {device}",
        device_serial=f"C02{device.upper()}",
        subject_kind=SubjectKind.LIBRARY_ITEM,
        subject_id=item,
        subject_name=f"Item {item}",
        subject_status="ERROR",
        severity=severity,
        summary=f"Item {item} is ERROR on Mac {device}",
        description="A library item failed its audit.",
        keep_firing_for_seconds=keep_s,
        labels=labels or {},
    )


def coverage(devices: Sequence[str], *, source: str = "acme") -> Coverage:
    return Coverage(
        source=source,
        devices=frozenset(devices),
        device_list_complete=True,
        complete_kinds=frozenset(FactKind),
    )


async def sweep(
    store: SqlStore,
    findings: Sequence[Finding],
    now: datetime,
    *,
    devices: Sequence[str] | None = None,
    **kwargs: Any,
) -> StepResult:
    """Run the state machine on ``findings`` and commit it, as a sweep would."""
    previous: dict[str, Alert] = await store.load_alerts()
    seen = devices if devices is not None else sorted({f.device_id for f in findings} | {"d1"})
    result = step(previous, findings, coverage(seen), now, **kwargs)
    stats = SweepStats(source="acme", started_at=now, finished_at=now, ok=True,
                       devices=len(seen), findings=len(findings))
    await store.commit_sweep(stats, result)
    return result


@dataclass
class Sent:
    receiver: str
    title: str
    body: str
    body_format: BodyFormat


@dataclass
class RecordingSender:
    """A Sender that records messages and can refuse the first ``fail`` attempts."""

    fail: int = 0
    sent: list[Sent] = field(default_factory=list)
    attempts: int = 0

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        self.attempts += 1
        if self.fail > 0:
            self.fail -= 1
            raise DeliveryError(f"receiver {receiver.name}: refused")
        self.sent.append(Sent(receiver.name, message.title, message.body, message.body_format))
