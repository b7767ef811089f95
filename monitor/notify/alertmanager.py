"""The Alertmanager receiver: alerts posted to a Prometheus Alertmanager's API.

Teams that already route through Alertmanager can treat the monitor as one more alert
source. A receiver with ``alertmanager: {url: ...}`` goes through the same route tree,
grouping, silences and outbox as every other receiver; what differs is the message:
instead of rendered text, :func:`render_alerts` writes the group's alerts as the JSON
array ``POST /api/v2/alerts`` takes, and :class:`AlertmanagerSender` posts it::

    [{"labels": {"alertname": "kandji.library-item.failed", "severity": "warning", ...},
      "annotations": {"summary": "...", "status": "ERROR", ...},
      "startsAt": "2026-01-05T09:00:00Z", "endsAt": "2026-01-05T21:00:00Z"}, ...]

Labels identify an alert in Alertmanager, so only stable facts are labels: the rule
(``alertname``), severity, source, device and subject; the subject's current status,
the summary and the description are annotations. A firing alert ends ``resolve_after``
from now: every repeat message posts it again before then, and if the monitor stops
talking Alertmanager resolves it on its own. A resolved alert is posted with the time it
resolved as ``endsAt``. Alerts whose rows were already pruned cannot be posted; they
expire at their last ``endsAt``.

Label names follow Prometheus (``[A-Za-z_][A-Za-z0-9_]*``; other characters become
``_``); names and values are bounded in length.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import aiohttp

from monitor.config import AlertmanagerTarget, ReceiverConfig
from monitor.errors import DeliveryError
from monitor.models import Alert, AlertState
from monitor.notify.grouping import GroupDecision
from monitor.notify.labels import alert_labels
from monitor.notify.outgoing import Outgoing
from monitor.store.base import BodyFormat

#: The path of Alertmanager's alert intake (API v2).
ALERTS_PATH = "/api/v2/alerts"
MAX_LABEL_NAME = 128
MAX_VALUE = 1024
MAX_ERROR_QUOTED = 200

#: Labels that change while an alert lives; they travel as annotations instead.
_VOLATILE = frozenset({"subject_status"})
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")


def label_name(name: str) -> str:
    """``name`` as a valid Prometheus label name."""
    cleaned = _BAD_NAME_CHARS.sub("_", name)[:MAX_LABEL_NAME] or "_"
    return f"_{cleaned}"[:MAX_LABEL_NAME] if cleaned[0].isdigit() else cleaned


def _bounded(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[: MAX_VALUE - 1] + "…"


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_payload(
    alert: Alert, target: AlertmanagerTarget, now: datetime, *, resolved: bool
) -> dict[str, Any]:
    """One alert as Alertmanager takes it."""
    f = alert.finding
    labels = {
        label_name(k): _bounded(v) for k, v in alert_labels(alert).items() if k not in _VOLATILE
    }
    labels.update({label_name(k): _bounded(v) for k, v in target.labels.items()})
    labels["alertname"] = _bounded(f.rule_id)
    labels = {k: v for k, v in labels.items() if v != ""}
    annotations = {
        "summary": _bounded(f.summary),
        "description": _bounded(f.description),
        "status": _bounded(f.subject_status),
        "fingerprint": alert.fingerprint,
    }
    starts = alert.firing_since or alert.active_since
    ends = (alert.resolved_at or now) if resolved else now + target.resolve_after
    if ends <= starts:
        ends = starts
    return {
        "labels": labels,
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": _rfc3339(starts),
        "endsAt": _rfc3339(ends),
    }


def render_alerts(
    decision: GroupDecision, receiver: ReceiverConfig, now: datetime
) -> tuple[str, str, BodyFormat]:
    """Title, body (the JSON array for ``/api/v2/alerts``) and format of the message."""
    target = receiver.alertmanager
    if target is None:
        raise ValueError(f"receiver {receiver.name} has no alertmanager")
    alerts = [alert_payload(a, target, now, resolved=False) for a in decision.firing]
    alerts.extend(
        alert_payload(a, target, now, resolved=True)
        for a in decision.resolved
        if a.state is not AlertState.FIRING
    )
    rules = sorted({a.finding.rule_id for a in (*decision.firing, *decision.resolved)})
    title = (
        f"{len(decision.firing)} firing, {decision.resolved_count} resolved"
        f" ({', '.join(rules[:3])}{', ...' if len(rules) > 3 else ''})"
    )
    body = json.dumps(alerts, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return title, body, "text"


class AlertmanagerSender:
    """Posts the JSON body of messages for ``alertmanager`` receivers; ignores others."""

    def __repr__(self) -> str:
        return "AlertmanagerSender()"

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """POST the message's body to the receiver's Alertmanager; DeliveryError unless
        it took it."""
        target = receiver.alertmanager
        if target is None:
            return
        url = target.url.get_secret_value().rstrip("/") + ALERTS_PATH
        timeout = aiohttp.ClientTimeout(total=target.timeout.total_seconds())
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                url,
                data=message.linked_body().encode("utf-8"),
                headers={"Content-Type": "application/json"},
                allow_redirects=False,
            ) as response:
                text = (await response.text(errors="replace"))[:MAX_ERROR_QUOTED]
                status = response.status
        except TimeoutError:
            raise DeliveryError(
                f"receiver {receiver.name}: Alertmanager did not answer within "
                f"{target.timeout.total_seconds():g}s"
            ) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # Only the class name: some of these messages quote the URL.
            raise DeliveryError(
                f"receiver {receiver.name}: Alertmanager unreachable ({exc.__class__.__name__})"
            ) from None
        if status >= 300:
            detail = " ".join(text.split())
            raise DeliveryError(
                f"receiver {receiver.name}: Alertmanager answered HTTP {status}"
                + (f": {detail}" if detail else ""),
            )


__all__ = ["ALERTS_PATH", "AlertmanagerSender", "alert_payload", "label_name", "render_alerts"]
