"""The pure decision: should a group speak, and why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.alerts import step
from monitor.config import RouteConfig
from monitor.models import Alert, AlertState, NotifyReason
from monitor.notify.grouping import build_groups, decide, should_notify
from monitor.notify.routing import build_routes
from monitor.store.base import NotificationLogEntry
from tests.notify.helpers import T0, coverage, finding

H = timedelta(hours=1)


def told(firing: set[str], sent_hours_ago: float = 1.0) -> NotificationLogEntry:
    sent = T0 - timedelta(hours=sent_hours_ago)
    return NotificationLogEntry(
        group_key="g", receiver="ops", route="root", labels={}, firing=frozenset(firing),
        sent_at=sent, updated_at=sent, reason=NotifyReason.FIRST,
    )


@pytest.mark.parametrize(
    ("firing", "resolved", "last", "send_resolved", "expected"),
    [
        ({"a"}, set(), None, True, NotifyReason.FIRST),
        (set(), set(), None, True, None),
        ({"a"}, set(), told({"a"}), True, None),
        ({"a", "b"}, set(), told({"a"}), True, NotifyReason.FIRST),
        ({"a"}, {"b"}, told({"a", "b"}), True, NotifyReason.RESOLVED),
        ({"a"}, {"b"}, told({"a", "b"}), False, None),
        (set(), {"a"}, told({"a"}), True, NotifyReason.RESOLVED),
        ({"a"}, set(), told({"a"}, sent_hours_ago=4), True, NotifyReason.REPEAT),
        ({"a"}, set(), told({"a"}, sent_hours_ago=3.9), True, None),
        # new beats resolved beats repeat
        ({"a", "c"}, {"b"}, told({"a", "b"}, sent_hours_ago=5), True, NotifyReason.FIRST),
        ({"a"}, {"b"}, told({"a", "b"}, sent_hours_ago=5), True, NotifyReason.RESOLVED),
        # nothing firing: no reminder
        (set(), set(), told(set(), sent_hours_ago=9), True, None),
    ],
)
def test_should_notify(
    firing: set[str], resolved: set[str], last: NotificationLogEntry | None,
    send_resolved: bool, expected: NotifyReason | None,
) -> None:
    reason = should_notify(
        frozenset(firing), frozenset(resolved), last, T0,
        repeat_interval=4 * H, send_resolved=send_resolved,
    )
    assert reason is expected


def alerts_for(*devices: str) -> dict[str, Alert]:
    return dict(step({}, [finding(d) for d in devices], coverage(list(devices)), T0).alerts)


def test_muted_alert_already_announced_is_kept_not_resolved() -> None:
    alerts = alerts_for("d1", "d2")
    fp1, fp2 = sorted(alerts)
    root = build_routes(RouteConfig(receiver="ops"))
    [group] = build_groups(alerts.values(), root).values()
    decision = decide(group, told({fp1, fp2}), T0, muted={fp2}, send_resolved=True)
    assert decision.reason is None
    assert decision.entry is None  # nothing to change: fp2 stays "told"


def test_muted_alert_that_resolves_is_announced_when_the_mute_ends() -> None:
    alerts = alerts_for("d1", "d2")
    fp1, fp2 = sorted(alerts)
    resolved = {**alerts, fp2: _resolve(alerts[fp2])}
    root = build_routes(RouteConfig(receiver="ops"))
    [group] = build_groups(resolved.values(), root).values()
    muted = decide(group, told({fp1, fp2}), T0, muted={fp2}, send_resolved=True)
    assert muted.reason is None
    unmuted = decide(group, told({fp1, fp2}), T0, muted=set(), send_resolved=True)
    assert unmuted.reason is NotifyReason.RESOLVED
    assert [a.fingerprint for a in unmuted.resolved] == [fp2]
    assert unmuted.entry is not None
    assert unmuted.entry.firing == {fp1}


def test_group_whose_alert_rows_are_gone_still_resolves_from_the_log() -> None:
    root = build_routes(RouteConfig(receiver="ops"))
    key = root.group_key({"rule_id": "r", "source": "acme"})
    entry = NotificationLogEntry(
        group_key=key, receiver="ops", route="root", labels={"rule_id": "r", "source": "acme"},
        firing=frozenset({"gone"}), sent_at=T0 - H, updated_at=T0 - H,
    )
    groups = build_groups([], root, {key: entry})
    decision = decide(groups[key], entry, T0, muted=set(), send_resolved=True)
    assert decision.reason is NotifyReason.RESOLVED
    assert decision.resolved_count == 1
    assert decision.resolved == ()


def test_baseline_alerts_are_never_announced() -> None:
    alerts = dict(
        step({}, [finding("d1")], coverage(["d1"]), T0, baseline={"kandji.library-item.failed"})
        .alerts
    )
    root = build_routes(RouteConfig(receiver="ops"))
    [group] = build_groups(alerts.values(), root).values()
    assert decide(group, None, T0, muted=set(), send_resolved=True).reason is None


def _resolve(alert: Alert) -> Alert:
    from dataclasses import replace

    return replace(alert, state=AlertState.RESOLVED, resolved_at=T0)
