"""Owner notices: telling a device's assigned user what to fix, and IT when they do not.

A receiver with an ``owner:`` policy is an owner receiver: the routes that name it
select the alerts, and instead of one message per route group, each device owner (the
MDM's assigned user, ``Finding.owner``) gets one message covering all of their failing
items, sent to their own address. What the policy decides, for each owner, purely
(:func:`decide_owner`)::

    eligible  = firing, unmuted items of this owner, firing for at least ``grace``
    due       = an eligible item never told, or told ``remind_every`` ago
    send      = due, inside the send ``window``, no message yet in this window
                occurrence, fewer than ``max_per_day`` messages today
    escalate  = told items first told ``escalate.after`` ago, or whose reminders reached
                ``escalate.reminders``: one message to ``escalate.receiver`` (IT), once
                per item; items of devices that name no owner go there after ``grace``

The state (who was told what, when, how many times, what went to IT) lives in the store
(:class:`~monitor.store.base.OwnerRecord`) and is written in the same transaction as
the messages it explains, so a restart neither repeats nor skips a notice. An item that
stops failing is forgotten: should it fail again, the owner hears of it after a new
grace period.

Addresses are personal data. They appear only in the owner's own message and its
delivery (the ``to`` of the receiver's ``mailto`` URLs, which the sender scrubs from
any error). Group keys, logs and the store's keys use an owner id, a hash of the
address; IT escalations and previews show the address masked (``j***@example.com``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import jinja2
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import SecretStr

from monitor.config import OwnerPolicy, ReceiverConfig
from monitor.models import Alert, AlertState, NotifyReason
from monitor.notify.schedule import (
    SendWindow,
    day_numbers,
    local_day,
    parse_clock_time,
    window_id,
)
from monitor.store.base import MessageDraft, OwnerItemNotice, OwnerRecord

#: Group keys of owner messages start with this; escalations with ESCALATION_PREFIX.
OWNER_PREFIX = "owner"
ESCALATION_PREFIX = "owner-escalation"


def owner_id(address: str) -> str:
    """A stable, non-reversible id for an address (case and spaces ignored)."""
    normal = address.strip().casefold()
    return hashlib.blake2b(normal.encode(), digest_size=8).hexdigest()


def mask_address(address: str) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com`` (empty stays empty)."""
    local, _, domain = address.strip().partition("@")
    if not local:
        return ""
    return f"{local[0]}***@{domain}" if domain else f"{local[0]}***"


def owner_key(receiver: str, address: str) -> str:
    """The store key and outbox group key of one owner on one owner receiver."""
    return f"{OWNER_PREFIX}:{receiver}:{owner_id(address) if address else 'none'}"


def escalation_key(receiver: str, address: str) -> str:
    """The outbox group key of the escalations about one owner."""
    return f"{ESCALATION_PREFIX}:{receiver}:{owner_id(address) if address else 'none'}"


def is_owner_key(group_key: str) -> bool:
    """Whether an outbox group key belongs to an owner message (addressed per owner)."""
    return group_key.startswith(f"{OWNER_PREFIX}:")


def with_recipient(receiver: ReceiverConfig, address: str) -> ReceiverConfig:
    """``receiver`` with the ``to`` of each of its ``mailto`` URLs set to ``address``."""
    urls = []
    for secret in receiver.urls:
        parts = urlsplit(secret.get_secret_value())
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                 if k.lower() not in ("to", "cc", "bcc")]
        query.append(("to", address.strip()))
        urls.append(SecretStr(urlunsplit(parts._replace(query=urlencode(query)))))
    return receiver.model_copy(update={"urls": urls, "owner": None})


# ----------------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class Policy:
    """An :class:`~monitor.config.OwnerPolicy` in resolved form."""

    grace: timedelta
    window: SendWindow | None
    tz: ZoneInfo
    remind_every: timedelta | None
    escalate_to: str | None
    escalate_after: timedelta | None
    escalate_reminders: int | None
    max_per_day: int
    max_items: int

    @classmethod
    def of(cls, config: OwnerPolicy) -> Policy:
        """The resolved form of a receiver's ``owner:`` block."""
        window = None
        tz = ZoneInfo("UTC")
        if config.window is not None:
            tz = ZoneInfo(config.window.timezone)
            window = SendWindow(
                day_numbers(config.window.days),
                parse_clock_time(config.window.start),
                parse_clock_time(config.window.end),
                tz,
            )
        esc = config.escalate
        return cls(
            grace=config.grace,
            window=window,
            tz=tz,
            remind_every=config.remind_every,
            escalate_to=esc.receiver if esc else None,
            escalate_after=esc.after if esc else None,
            escalate_reminders=esc.reminders if esc else None,
            max_per_day=config.max_per_day,
            max_items=config.max_items,
        )


@dataclass(frozen=True, slots=True)
class OwnerDecision:
    """What to do about one owner at ``now``.

    ``reason``: first (something new) or repeat (a reminder), None when no message goes
    to the owner; ``held`` says why a due message waits (``outside_window``,
    ``window_used``, ``daily_cap``, ``no_address``). ``shown``: the items the message
    lists; ``new``: those the owner has not heard of. ``escalate``: items to hand to IT
    now. ``record``: the state to store (None when nothing changed).
    """

    reason: NotifyReason | None
    held: str
    shown: tuple[Alert, ...]
    new: frozenset[str]
    escalate: tuple[Alert, ...]
    record: OwnerRecord | None


def _since(alert: Alert) -> datetime:
    return alert.firing_since or alert.active_since


def decide_owner(
    policy: Policy,
    previous: OwnerRecord | None,
    alerts: Sequence[Alert],
    now: datetime,
    *,
    key: str,
    receiver: str,
    address: str,
) -> OwnerDecision:
    """Evaluate one owner's firing, unmuted ``alerts`` against what they were told."""
    failing = {a.fingerprint for a in alerts}
    told = {fp: n for fp, n in (previous.items if previous else {}).items() if fp in failing}
    eligible = [a for a in alerts if _since(a) + policy.grace <= now]
    day = local_day(now, policy.tz)
    sent_today = previous.sent_today if previous is not None and previous.day == day else 0
    last_window = previous.last_window if previous is not None else ""
    current_window = window_id(policy.window, now) if policy.window is not None else None

    reason: NotifyReason | None = None
    held = ""
    new = frozenset(a.fingerprint for a in eligible if a.fingerprint not in told)
    reminders = [
        a for a in eligible
        if a.fingerprint in told and policy.remind_every is not None
        and now - told[a.fingerprint].last_noticed >= policy.remind_every
    ]
    if new or reminders:
        if not address:
            held = "no_address"
        elif policy.window is not None and current_window is None:
            held = "outside_window"
        elif current_window is not None and current_window == last_window:
            held = "window_used"
        elif sent_today >= policy.max_per_day:
            held = "daily_cap"
        else:
            reason = NotifyReason.FIRST if new else NotifyReason.REPEAT

    items = dict(told)
    shown: tuple[Alert, ...] = ()
    if reason is not None:
        shown = tuple(eligible)
        for a in eligible:
            old = items.get(a.fingerprint)
            items[a.fingerprint] = OwnerItemNotice(
                first_noticed=old.first_noticed if old else now,
                last_noticed=now,
                notices=(old.notices if old else 0) + 1,
                escalated_at=old.escalated_at if old else None,
            )
        sent_today += 1
        last_window = current_window or ""

    escalate: list[Alert] = []
    if policy.escalate_to is not None:
        for a in eligible:
            notice = items.get(a.fingerprint)
            if not address and notice is None:
                escalate.append(a)
                items[a.fingerprint] = OwnerItemNotice(now, now, 0, escalated_at=now)
                continue
            if notice is None or notice.escalated_at is not None:
                continue
            by_age = (
                policy.escalate_after is not None
                and now - notice.first_noticed >= policy.escalate_after
            )
            by_reminders = (
                policy.escalate_reminders is not None
                and notice.notices - 1 >= policy.escalate_reminders
            )
            if by_age or by_reminders:
                escalate.append(a)
                items[a.fingerprint] = replace(notice, escalated_at=now)

    record: OwnerRecord | None = OwnerRecord(
        key=key, receiver=receiver, address=address, items=items, updated_at=now,
        day=day, sent_today=sent_today, last_window=last_window,
    )
    unchanged = (
        previous is not None and reason is None and not escalate
        and dict(previous.items) == items
    ) or (previous is None and not items)
    # An owner whose items all recovered keeps an empty record (pruned with the history).
    if unchanged:
        record = None
    return OwnerDecision(
        reason=reason,
        held=held,
        shown=shown,
        new=new if reason is not None else frozenset(),
        escalate=tuple(escalate),
        record=record,
    )


# ----------------------------------------------------------------------- rendering


def _item_view(alert: Alert, new: bool, now: datetime) -> dict[str, Any]:
    f = alert.finding
    return {
        "device_name": f.device_name,
        "device_serial": f.device_serial,
        "item": f.subject_name,
        "status": f.subject_status,
        "summary": f.summary,
        "why": f.description,
        "detail": f.detail,
        "remedy": f.remedy,
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "since": _since(alert).strftime("%Y-%m-%d %H:%M UTC"),
        "days": max(0, (now - _since(alert)).days),
        "new": new,
    }


def _devices(views: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    devices: dict[tuple[str, str], dict[str, Any]] = {}
    for v in views:
        key = (v["device_name"], v["device_serial"])
        devices.setdefault(key, {"name": key[0], "serial": key[1], "items": []})
        devices[key]["items"].append(v)
    return list(devices.values())


_OWNER_TITLE = """\
{% if reason == "repeat" %}Reminder: {% endif %}\
{{ plural(count, "item") }} on your {{ "device" if device_count == 1 else "devices" }} \
{{ "needs" if count == 1 else "need" }} attention"""

_OWNER_HTML = """\
<html><body style="font-family: sans-serif">
<p>Hello,</p>
<p>{% if reason == "repeat" %}This is a reminder: {% endif %}\
{{ plural(count, "item") }} on {{ "your device" if device_count == 1 else "your devices" }} \
{{ "is" if count == 1 else "are" }} not compliant. Here is what is wrong and what you can do.</p>
{% for d in devices %}
<h3>{{ d.name }}{% if d.serial %} \
<span style="font-weight: normal">(serial {{ d.serial }})</span>{% endif %}</h3>
<ul>
{% for i in d["items"] %}
<li><p><strong>{{ i.item }}</strong>{% if i.status %}: {{ i.status }}{% endif %}\
{% if i.new and new_count < count %} <em>(new)</em>{% endif %} \
(failing since {{ i.since }})</p>
{% if i.why %}<p>Why: {{ i.why }}</p>{% endif %}
{% if i.detail %}<p>Last audit log:</p>\
<pre style="white-space: pre-wrap">{{ i.detail }}</pre>{% endif %}
{% if i.remedy %}<p>What to do: {{ i.remedy }}</p>{% endif %}
</li>
{% endfor %}
</ul>
{% endfor %}
{% if more %}<p><em>...and {{ plural(more, "more item") }}.</em></p>{% endif %}
<p>If you need help, reply to your IT team.</p>
</body></html>"""

_ESCALATION_TITLE = """\
[ESCALATED:{{ count }}] {{ plural(count, "item") }} unresolved by \
{{ owner or "a device with no assigned user" }}"""

_ESCALATION_HTML = """\
<html><body style="font-family: sans-serif">
<p><strong>{{ plural(count, "item") }} still failing \
{% if owner %}after the device's user ({{ owner }}) was told\
{% else %}on a device with no assigned user{% endif %}</strong>.</p>
{% for d in devices %}
<h3>{{ d.name }}{% if d.serial %} (serial {{ d.serial }}){% endif %}</h3>
<ul>
{% for i in d["items"] %}
<li><strong>{{ i.item }}</strong>{% if i.status %}: {{ i.status }}{% endif %} \
(rule {{ i.rule_id }}, {{ i.severity }}, failing since {{ i.since }}, {{ i.days }} d)\
{% if i.remedy %}<br>What to do: {{ i.remedy }}{% endif %}</li>
{% endfor %}
</ul>
{% endfor %}
{% if more %}<p><em>...and {{ plural(more, "more item") }}.</em></p>{% endif %}
</body></html>"""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


_ENV = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined,
                            trim_blocks=True, lstrip_blocks=True)
_ENV.globals["plural"] = _plural
_TEXT_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_TEXT_ENV.globals["plural"] = _plural
_TEMPLATES: Mapping[str, jinja2.Template] = {
    "owner.title": _TEXT_ENV.from_string(_OWNER_TITLE),
    "owner.html": _ENV.from_string(_OWNER_HTML),
    "escalation.title": _TEXT_ENV.from_string(_ESCALATION_TITLE),
    "escalation.html": _ENV.from_string(_ESCALATION_HTML),
}


def render_owner(
    reason: NotifyReason,
    alerts: Sequence[Alert],
    new: frozenset[str],
    now: datetime,
    *,
    max_items: int,
) -> tuple[str, str]:
    """Title and HTML body of an owner's message (no address in either)."""
    views = [_item_view(a, a.fingerprint in new, now) for a in alerts[:max_items]]
    devices = _devices(views)
    context = {
        "reason": reason.value, "count": len(alerts), "devices": devices,
        "device_count": len({(a.finding.device_name, a.finding.device_serial) for a in alerts}),
        "more": max(0, len(alerts) - max_items),
        "new_count": sum(1 for a in alerts if a.fingerprint in new),
    }
    title = _TEMPLATES["owner.title"].render(context)
    return " ".join(title.split()), _TEMPLATES["owner.html"].render(context)


def render_escalation(
    alerts: Sequence[Alert], address: str, now: datetime, *, max_items: int
) -> tuple[str, str]:
    """Title and HTML body of an escalation to IT (the owner's address masked)."""
    views = [_item_view(a, False, now) for a in alerts[:max_items]]
    context = {
        "count": len(alerts), "devices": _devices(views), "owner": mask_address(address),
        "more": max(0, len(alerts) - max_items),
    }
    title = _TEMPLATES["escalation.title"].render(context)
    return " ".join(title.split()), _TEMPLATES["escalation.html"].render(context)


# ----------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class OwnerPlan:
    """One owner's decision with the messages it implies (``drafts`` in queue order)."""

    key: str
    decision: OwnerDecision
    drafts: tuple[MessageDraft, ...]
    masked: str

    @property
    def record(self) -> OwnerRecord | None:
        """The state to write (None: unchanged)."""
        return self.decision.record


def plan_owners(
    receiver: ReceiverConfig,
    alerts: Iterable[Alert],
    records: Mapping[str, OwnerRecord],
    now: datetime,
    *,
    preview: bool = False,
) -> list[OwnerPlan]:
    """Decide for every owner of ``receiver``: ``alerts`` are those its routes took
    (firing, unmuted, not baseline); ``records`` the stored state of its owners.

    Owners with stored state and no failing item left get a plan that empties it.
    ``preview`` (dry runs) shows what owners would be told, grace, window and cap aside.
    """
    assert receiver.owner is not None
    policy = Policy.of(receiver.owner)
    if preview:
        policy = replace(policy, grace=timedelta(0), window=None, max_per_day=1_000_000)
    by_owner: dict[str, tuple[str, list[Alert]]] = {}
    for alert in alerts:
        if alert.state is not AlertState.FIRING or alert.baseline:
            continue
        address = alert.finding.owner.strip()
        key = owner_key(receiver.name, address)
        by_owner.setdefault(key, (address, []))[1].append(alert)
    for key, record in records.items():
        if record.receiver == receiver.name and key not in by_owner:
            by_owner[key] = (record.address, [])

    plans: list[OwnerPlan] = []
    for key, (address, owned) in sorted(by_owner.items()):
        owned.sort(key=lambda a: (a.finding.device_name.casefold(), a.finding.subject_name,
                                  a.fingerprint))
        decision = decide_owner(
            policy, records.get(key), owned, now, key=key, receiver=receiver.name,
            address=address,
        )
        drafts: list[MessageDraft] = []
        if decision.reason is not None:
            title, body = render_owner(
                decision.reason, decision.shown, decision.new, now, max_items=policy.max_items
            )
            drafts.append(MessageDraft(
                group_key=key, receiver=receiver.name, reason=decision.reason, title=title,
                body=body, body_format="html", created_at=now, firing=len(decision.shown),
            ))
        if decision.escalate and policy.escalate_to is not None:
            title, body = render_escalation(
                decision.escalate, address, now, max_items=policy.max_items
            )
            drafts.append(MessageDraft(
                group_key=escalation_key(receiver.name, address), receiver=policy.escalate_to,
                reason=NotifyReason.FIRST, title=title, body=body, body_format="html",
                created_at=now, firing=len(decision.escalate),
            ))
        if decision.record is not None or drafts:
            plans.append(OwnerPlan(key, decision, tuple(drafts), mask_address(address)))
    return plans


__all__ = [
    "OwnerDecision",
    "OwnerPlan",
    "Policy",
    "decide_owner",
    "escalation_key",
    "is_owner_key",
    "mask_address",
    "owner_id",
    "owner_key",
    "plan_owners",
    "render_escalation",
    "render_owner",
    "with_recipient",
]
