"""What the status page says about alerts muted by their device, and device-level alerts.

Seen on a running demo: an Applivery PC that stopped reporting raised
``monitor.device.silent``, which mutes its other alerts; those must be shown apart with
the silenced ones (not among the firing, not in the headline count). And a device-level
alert's subject is the device itself, so the page says what is wrong with it rather than
repeating its name.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from monitor.models import AlertState, Severity, SourceKind
from monitor.web.page import render_status_page
from monitor.web.view import AlertView, summarize

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def view(
    n: int,
    rule_id: str,
    *,
    state: AlertState = AlertState.FIRING,
    subject_kind: str = "device",
    subject_name: str = "Elena's Surface",
    subject_status: str = "",
    summary: str = "",
    silenced: bool = False,
    inhibited: bool = False,
) -> AlertView:
    return AlertView(
        fingerprint=f"fp{n}",
        state=state,
        silenced=silenced,
        inhibited=inhibited,
        rule_id=rule_id,
        severity=Severity.WARNING,
        source="pcs",
        source_kind=SourceKind("applivery"),
        device_id="0123456789abcdef01234567",
        device_name="Elena's Surface",
        device_serial="SNFEFD3D90E1",
        subject_kind=subject_kind,
        subject_name=subject_name,
        subject_status=subject_status,
        summary=summary or f"{rule_id} on Elena's Surface",
        active_since=NOW - timedelta(hours=1),
        firing_since=NOW - timedelta(hours=1) if state is AlertState.FIRING else None,
    )


ALERTS = [
    view(1, "monitor.device.silent", subject_status="silent",
         summary="Elena's Surface has not checked in for 42.1 days"),
    view(2, "applivery.windows.not-reporting", inhibited=True,
         summary="Elena's Surface last reported 42d 2h ago"),
    view(3, "applivery.windows.sync-error", state=AlertState.PENDING,
         summary="Elena's Surface: last sync failed"),
]


def section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}"', 1)[1].split("</section>", 1)[0]


def render() -> str:
    page = render_status_page(alerts=ALERTS, sources=[], silences=[], ready=(True, []), now=NOW)
    return html.unescape(page)


def test_an_alert_muted_by_its_silent_device_is_shown_apart_not_as_firing() -> None:
    page = render()

    firing = section(page, "firing")
    assert "monitor.device.silent" in firing
    assert "applivery.windows.not-reporting" not in firing
    muted = section(page, "silenced")
    assert "Silenced and inhibited" in muted
    assert "applivery.windows.not-reporting" in muted
    assert "firing, inhibited" in muted
    assert "1 inhibited" in page  # the summary tile says why it is muted
    summary = summarize(ALERTS, [], [])
    assert (summary.firing, summary.silenced, summary.inhibited) == (1, 1, 1)


def test_a_device_level_alert_says_what_is_wrong_instead_of_repeating_the_device() -> None:
    page = render()

    pending = section(page, "pending")
    row = pending.split('id="alert-fp3"', 1)[1].split("</tr>", 1)[0]
    assert "Elena's Surface: last sync failed" in row
    assert row.count("Elena's Surface") == 2  # the device cell, then the summary
    # In the firing table the summary has its own column: the subject is the status.
    firing_row = section(page, "firing").split('id="alert-fp1"', 1)[1].split("</tr>", 1)[0]
    subject_cell = firing_row.split("<td>")[2].split("</td>", 1)[0]
    assert "silent" in subject_cell
    assert "Elena's Surface" not in subject_cell
