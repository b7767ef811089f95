"""A small, realistic picture of a fleet for the web tests: two sources, a dozen alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from monitor.models import AlertState, Severity, SourceKind
from monitor.web.provider import StaticStatusProvider, device_console_link
from monitor.web.view import AlertView, SilenceView, SourceView, SweepView

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KANDJI_CONSOLE = "https://acme.kandji.io"
APPLIVERY_CONSOLE = "https://dashboard.applivery.io/acme/mdm/devices/{device_id}"

KANDJI = SourceKind("kandji")


def _ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def alert(
    n: int,
    *,
    rule_id: str,
    severity: Severity,
    device_name: str,
    serial: str,
    subject_name: str,
    subject_status: str,
    state: AlertState = AlertState.FIRING,
    silenced: bool = False,
    kind: SourceKind = KANDJI,
    subject_kind: str = "library_item",
    active_minutes: float = 90,
    resolved_minutes: float | None = None,
    device: int | None = None,
) -> AlertView:
    """One alert view; ``n`` makes the fingerprint unique, ``device`` (default ``n``) the device."""
    d = n if device is None else device
    device_id = f"5f1c2a0e-0000-4000-8000-{d:012d}" if kind == SourceKind("kandji") else f"{d:024x}"
    source = "acme-macs" if kind == SourceKind("kandji") else "acme-windows"
    console = KANDJI_CONSOLE if kind == SourceKind("kandji") else APPLIVERY_CONSOLE
    active = _ago(minutes=active_minutes)
    return AlertView(
        fingerprint=f"fp{n:04d}",
        state=state,
        silenced=silenced,
        rule_id=rule_id,
        severity=severity,
        source=source,
        source_kind=kind,
        device_id=device_id,
        device_name=device_name,
        device_serial=serial,
        subject_kind=subject_kind,
        subject_name=subject_name,
        subject_status=subject_status,
        summary=f"{subject_name} is {subject_status} on {device_name}",
        active_since=active,
        firing_since=active + timedelta(minutes=30) if state is not AlertState.PENDING else None,
        resolved_at=_ago(minutes=resolved_minutes) if resolved_minutes is not None else None,
        console_link=device_console_link(kind, console, device_id),
    )


def sample_alerts() -> list[AlertView]:
    """Firing alerts in three groups, one pending, one silenced, two resolved."""
    lib = "kandji.library-item.failed"
    fv = "kandji.filevault.off"
    win = "applivery.device.noncompliant"
    return [
        alert(
            1,
            rule_id=fv,
            severity=Severity.CRITICAL,
            device_name="Maria's MacBook Pro",
            serial="C02XL0AAJGH5",
            subject_name="FileVault",
            subject_status="off",
            subject_kind="device",
            active_minutes=300,
        ),
        alert(
            2,
            rule_id=fv,
            severity=Severity.CRITICAL,
            device_name="build-mac-07",
            serial="H4TF93KQ0D",
            subject_name="FileVault",
            subject_status="off",
            subject_kind="device",
        ),
        alert(
            3,
            rule_id=lib,
            severity=Severity.WARNING,
            device_name="Jon's iMac",
            serial="D25LK1Z9F8J2",
            subject_name="Google Chrome",
            subject_status="ERROR",
        ),
        alert(
            4,
            rule_id=lib,
            severity=Severity.WARNING,
            device_name="design-mbp-12",
            serial="FVFDK2A3Q6L4",
            subject_name="Wi-Fi - Corporate",
            subject_status="failed",
        ),
        alert(
            5,
            rule_id=lib,
            severity=Severity.WARNING,
            device_name="design-mbp-12",
            device=4,
            serial="FVFDK2A3Q6L4",
            subject_name="Zoom",
            subject_status="INCOMPATIBLE",
        ),
        alert(
            6,
            rule_id=win,
            severity=Severity.WARNING,
            device_name="WS-FIN-014",
            serial="5CG1234XYZ",
            subject_name="compliance",
            subject_status="nonCompliant",
            subject_kind="device",
            kind=SourceKind("applivery"),
        ),
        alert(
            7,
            rule_id=lib,
            severity=Severity.WARNING,
            device_name="sales-air-03",
            serial="C02ZZ9PQMD6R",
            subject_name="Slack",
            subject_status="ERROR",
            state=AlertState.PENDING,
            active_minutes=10,
        ),
        alert(
            8,
            rule_id=lib,
            severity=Severity.WARNING,
            device_name="lab-mini-01",
            serial="C07LABMINI01",
            subject_name="Xcode",
            subject_status="ERROR",
            silenced=True,
        ),
        alert(
            9,
            rule_id=fv,
            severity=Severity.CRITICAL,
            device_name="ceo-mbp",
            serial="C02CEO000001",
            subject_name="FileVault",
            subject_status="on",
            subject_kind="device",
            state=AlertState.RESOLVED,
            resolved_minutes=20,
        ),
        alert(
            10,
            rule_id=lib,
            severity=Severity.WARNING,
            device_name="Jon's iMac",
            device=3,
            serial="D25LK1Z9F8J2",
            subject_name="Microsoft Teams",
            subject_status="PASS",
            state=AlertState.RESOLVED,
            resolved_minutes=5,
        ),
    ]


def _sweeps(n: int, *, fail_last: int = 0, requests: int = 412) -> tuple[SweepView, ...]:
    out = []
    for i in range(n):
        ok = i < n - fail_last
        out.append(
            SweepView(
                started_at=_ago(minutes=5 * (n - i)),
                duration_s=48.2 + i if ok else 30.0,
                ok=ok,
                devices=1284 if ok else 0,
                requests=requests + i if ok else 5,
                errors=0 if ok else 5,
                findings=7 if ok else 0,
            )
        )
    return tuple(out)


def sample_sources() -> list[SourceView]:
    """A healthy Kandji tenant and an Applivery workspace that keeps failing."""
    return [
        SourceView(
            name="acme-macs",
            kind=SourceKind("kandji"),
            healthy=True,
            last_success=_ago(minutes=4),
            consecutive_failures=0,
            last_error="",
            budget_remaining=4210,
            budget_per_hour=5000,
            sweeps=_sweeps(6),
            tenant_remaining=6120,
            tenant_limit=10_000,
            own_share=0.38,
            cadence_s=772.0,
            interval_s=900.0,
        ),
        SourceView(
            name="acme-windows",
            kind=SourceKind("applivery"),
            healthy=False,
            last_success=_ago(minutes=42),
            consecutive_failures=3,
            last_error="connection refused by api.applivery.io (3 attempts)",
            budget_remaining=None,
            budget_per_hour=2000,
            sweeps=_sweeps(5, fail_last=3, requests=38),
        ),
    ]


def sample_silences() -> list[SilenceView]:
    """One active silence over the lab machines, one that expired."""
    return [
        SilenceView(
            id="sil-lab",
            matchers='device_name=~"lab-.*"',
            starts_at=_ago(days=2),
            ends_at=NOW + timedelta(days=5),
            comment="Lab machines are reimaged every night",
            author="ops@acme.example",
            active=True,
        ),
        SilenceView(
            id="sil-old",
            matchers='rule_id="kandji.library-item.failed", subject_name="Zoom"',
            starts_at=_ago(days=10),
            ends_at=_ago(days=3),
            comment="Zoom 6.1 rollout",
            author="it@acme.example",
            active=False,
        ),
    ]


def sample_provider(*, ready: bool = True, reasons: Sequence[str] = ()) -> StaticStatusProvider:
    """A provider over the sample picture (ready unless told otherwise)."""
    return StaticStatusProvider(
        sample_alerts(), sample_sources(), sample_silences(), ready=ready, reasons=reasons
    )
