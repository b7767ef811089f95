"""The Alertmanager receiver: alerts posted to a real Prometheus Alertmanager, listed by
its API, notified by it, then resolved; and the payload it is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.app import App
from monitor.clock import FakeClock, SystemClock
from monitor.config import AlertmanagerTarget, ReceiverConfig, load_config
from monitor.errors import DeliveryError
from monitor.models import (
    Alert,
    AlertState,
    Finding,
    NotifyReason,
    Severity,
    SourceKind,
    SubjectKind,
)
from monitor.notify.alertmanager import AlertmanagerSender, alert_payload, label_name
from monitor.notify.envelope import Envelope
from monitor.notify.outgoing import Outgoing
from tests.alertmanager_server import alertmanager
from tests.e2e.alerting_support import (  # noqa: F401 - fresh_logging is a fixture
    eventually,
    fresh_logging,
    quiet_spec,
    set_status,
    slots,
    tenant,
    write_config,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _alert(*, status: str = "ERROR", labels: dict[str, str] | None = None,
           resolved_at: datetime | None = None) -> Alert:
    finding = Finding(
        rule_id="kandji.library-item.failed",
        source="acme",
        source_kind=SourceKind("kandji"),
        device_id="d-1",
        device_name="Mac-042",
        device_serial="C02X",
        subject_kind=SubjectKind.LIBRARY_ITEM,
        subject_id="item-1",
        subject_name="Chrome",
        subject_status=status,
        severity=Severity.WARNING,
        summary=f"Chrome is {status} on Mac-042",
        labels=labels or {},
    )
    return Alert(
        fingerprint=finding.fingerprint, state=AlertState.FIRING, finding=finding,
        active_since=T0, last_seen=T0, firing_since=T0 + timedelta(minutes=5),
        resolved_at=resolved_at,
    )


def test_a_firing_alert_has_stable_labels_and_ends_after_resolve_after() -> None:
    target = AlertmanagerTarget.model_validate(
        {"url": "http://am:9093", "labels": {"team": "endpoint"}}
    )
    now = T0 + timedelta(hours=1)
    payload = alert_payload(_alert(labels={"blueprint.name": "Lab"}), target, now,
                            resolved=False)
    assert payload["labels"]["alertname"] == "kandji.library-item.failed"
    assert payload["labels"]["device_name"] == "Mac-042"
    assert payload["labels"]["team"] == "endpoint"
    assert payload["labels"]["blueprint_name"] == "Lab"
    # The status changes while the alert lives: an annotation, not an identity label.
    assert "subject_status" not in payload["labels"]
    assert payload["annotations"]["status"] == "ERROR"
    assert payload["startsAt"] == "2026-01-05T09:05:00Z"
    assert payload["endsAt"] == "2026-01-05T22:00:00Z"
    same_alert_later = alert_payload(_alert(status="INCOMPATIBLE"), target, now, resolved=False)
    assert same_alert_later["labels"] == alert_payload(_alert(), target, now, resolved=False)[
        "labels"
    ]


def test_a_resolved_alert_ends_when_it_resolved() -> None:
    target = AlertmanagerTarget.model_validate({"url": "http://am:9093"})
    resolved = T0 + timedelta(hours=2)
    payload = alert_payload(_alert(resolved_at=resolved), target, T0 + timedelta(hours=3),
                            resolved=True)
    assert payload["endsAt"] == "2026-01-05T11:00:00Z"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("team", "team"), ("blueprint.name", "blueprint_name"), ("9lives", "_9lives"),
     ("", "_"), ("a-b c", "a_b_c")],
)
def test_label_names_are_made_valid_for_prometheus(name: str, expected: str) -> None:
    assert label_name(name) == expected


@pytest.mark.parametrize(
    ("receiver", "problem"),
    [
        ({"name": "am", "alertmanager": {"url": "ftp://am"}}, "http:// or https://"),
        ({"name": "am", "alertmanager": {"url": "http://am", "labels": {"a-b": "x"}}},
         "not a Prometheus label name"),
        ({"name": "am", "console": True, "alertmanager": {"url": "http://am"}},
         "takes no urls and no console"),
    ],
)
def test_the_receiver_config_refuses_what_alertmanager_cannot_take(
    receiver: dict[str, Any], problem: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=problem):
        ReceiverConfig.model_validate(receiver)


async def test_a_refusal_is_a_delivery_error_that_quotes_alertmanager_not_the_url() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=400, text='{"message":"start time must be before end"}')

    app = web.Application()
    app.router.add_post("/api/v2/alerts", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver = ReceiverConfig.model_validate(
        {"name": "am", "alertmanager": {"url": f"http://svc:pa55w0rd@127.0.0.1:{port}"}}
    )
    try:
        with pytest.raises(DeliveryError) as caught:
            await AlertmanagerSender().deliver(
                receiver, Outgoing("t", "[]", "text", Envelope("g", NotifyReason.FIRST, 1))
            )
    finally:
        await runner.cleanup()
    assert "HTTP 400" in str(caught.value)
    assert "start time must be before end" in str(caught.value)
    assert "pa55w0rd" not in str(caught.value)


async def test_other_receivers_are_left_to_the_other_senders() -> None:
    receiver = ReceiverConfig.model_validate({"name": "c", "console": True})
    await AlertmanagerSender().deliver(receiver, Outgoing("t", "body", "text"))


@pytest.mark.usefixtures("fresh_logging")
async def test_alertmanager_lists_the_alert_notifies_it_then_sees_it_resolved(
    tmp_path: Path,
) -> None:
    # Alertmanager compares startsAt/endsAt with its own clock: start a little before
    # real time, so the fake minute the test moves on stays in Alertmanager's past.
    clock = FakeClock(SystemClock().now().replace(microsecond=0) - timedelta(minutes=10))
    async with alertmanager(tmp_path) as am, \
            tenant(quiet_spec(), clock=clock) as (url, sim), \
            aiohttp.ClientSession() as session:
        cfg = write_config(
            tmp_path, kandji_url=url,
            receivers=(
                "receivers:\n"
                f"  - name: am\n    alertmanager: {{url: '{am.url}', labels: {{env: test}}}}\n"
            ),
            route="route: {receiver: am, group_wait: 0s}",
        )
        broken = slots(sim.fleet, 1)[0]
        async with App(load_config(cfg), clock=clock, web_enabled=False) as app:
            set_status(sim.fleet, broken, "ERROR")
            assert (await app.sweep_source("acme")).ok
            queued = await app.flush_notifications(ignore_wait=True)
            assert [m.reason for m in queued] == [NotifyReason.FIRST]
            sent = json.loads(queued[0].body)
            assert len(sent) == 1
            stats = await app.deliver_notifications()
            assert stats.delivered == 1

            listed = await am.alerts(session)
            assert len(listed) == 1
            alert = listed[0]
            assert alert["labels"]["alertname"] == "test.item.failed"
            assert alert["labels"]["device_name"] == broken.device_name
            assert alert["labels"]["subject_name"] == broken.item_name
            assert alert["labels"]["env"] == "test"
            assert alert["annotations"]["status"] == "ERROR"
            assert alert["status"]["state"] == "active"
            await eventually(lambda: bool(am.notified("firing")), timeout=30,
                             what="Alertmanager notifying the firing alert")

            set_status(sim.fleet, broken, "PASS")
            clock.advance(60)
            assert (await app.sweep_source("acme")).ok
            queued = await app.flush_notifications(ignore_wait=True)
            assert [m.reason for m in queued] == [NotifyReason.RESOLVED], queued
            assert (await app.deliver_notifications()).delivered == 1

            assert await am.alerts(session) == []
            await eventually(lambda: bool(am.notified("resolved")), timeout=30,
                             what="Alertmanager notifying the resolution")
    resolved = am.notified("resolved")[0]
    assert resolved["labels"]["device_name"] == broken.device_name
    assert resolved["endsAt"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))
