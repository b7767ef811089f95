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
    resolved  = nothing of the owner's fails any more and every item they were told of
                recovered: "your device is compliant again", once, under the same
                window and cap (off with the receiver's ``send_resolved: false``)

The state (who was told what, when, how many times, what went to IT) lives in the store
(:class:`~monitor.store.base.OwnerRecord`) and is written in the same transaction as
the messages it explains, so a restart neither repeats nor skips a notice. An item that
stops failing is forgotten once the owner has been told so (or at once when something
else of theirs still fails): should it fail again, the owner hears of it after a new
grace period. What the messages say is in :mod:`monitor.notify.owner_render`.

Addresses are personal data. They appear only in the owner's own message and its
delivery (the ``to`` of the receiver's ``mailto`` URLs, which the sender scrubs from
any error). Group keys, logs and the store's keys use an owner id, a hash of the
address; IT escalations and previews show the address masked (``j***@example.com``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from monitor.config import OwnerPolicy, ReceiverConfig
from monitor.models import Alert, AlertState, NotifyReason
from monitor.notify.owner_render import (
    firing_start,
    mask_address,
    render_escalation,
    render_owner,
    render_resolved,
)
from monitor.notify.schedule import (
    SendWindow,
    day_numbers,
    local_day,
    parse_clock_time,
    window_id,
)
from monitor.sources.links import ConsoleLinks
from monitor.store.base import MessageDraft, OwnerItemNotice, OwnerRecord

#: Group keys of owner messages start with this; escalations with ESCALATION_PREFIX.
OWNER_PREFIX = "owner"
ESCALATION_PREFIX = "owner-escalation"


def owner_id(address: str) -> str:
    """A stable, non-reversible id for an address (case and spaces ignored)."""
    normal = address.strip().casefold()
    return hashlib.blake2b(normal.encode(), digest_size=8).hexdigest()


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
    #: Tell the owner when every item they were told of has recovered (the receiver's
    #: ``send_resolved``).
    send_resolved: bool = True

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

    ``reason``: first (something new), repeat (a reminder) or resolved (everything the
    owner was told of recovered), None when no message goes to the owner; ``held`` says
    why a due message waits (``outside_window``, ``window_used``, ``daily_cap``,
    ``no_address``). ``shown``: the items the message lists; ``new``: those the owner
    has not heard of; ``fixed``: for a resolved message, the recovered items'
    fingerprints. ``escalate``: items to hand to IT now. ``record``: the state to store
    (None when nothing changed).
    """

    reason: NotifyReason | None
    held: str
    shown: tuple[Alert, ...]
    new: frozenset[str]
    escalate: tuple[Alert, ...]
    record: OwnerRecord | None
    fixed: tuple[str, ...] = ()


def decide_owner(
    policy: Policy,
    previous: OwnerRecord | None,
    alerts: Sequence[Alert],
    now: datetime,
    *,
    key: str,
    receiver: str,
    address: str,
    recovered: Collection[str] = frozenset(),
) -> OwnerDecision:
    """Evaluate one owner's firing, unmuted ``alerts`` against what they were told.

    ``recovered``: fingerprints whose alerts resolved (or left the store). An item told
    of counts as told only for the run of failures it was told in: one that recovered
    and fails again is news after a new grace period. When nothing of the owner's fails
    any more and every item they were told of recovered, a resolved message is due
    (``send_resolved``); until it can go (window, cap), the recovered items are kept.
    """
    failing = {a.fingerprint: a for a in alerts}
    before = dict(previous.items) if previous else {}
    told = {fp: n for fp, n in before.items()
            if fp in failing and n.last_noticed >= firing_start(failing[fp])}
    fixed = tuple(sorted(fp for fp, n in before.items() if n.notices and fp not in failing
                         and fp in recovered))
    still_open = [fp for fp, n in before.items() if n.notices and fp not in recovered]
    resolved_due = policy.send_resolved and bool(fixed) and not failing and not still_open
    eligible = [a for a in alerts if firing_start(a) + policy.grace <= now]
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
    if new or reminders or resolved_due:
        if not address:
            held = "no_address"
        elif policy.window is not None and current_window is None:
            held = "outside_window"
        elif current_window is not None and current_window == last_window:
            held = "window_used"
        elif sent_today >= policy.max_per_day:
            held = "daily_cap"
        elif resolved_due:
            reason = NotifyReason.RESOLVED
        else:
            reason = NotifyReason.FIRST if new else NotifyReason.REPEAT

    items = dict(told)
    shown: tuple[Alert, ...] = ()
    if resolved_due and held and held != "no_address":
        items.update((fp, before[fp]) for fp in fixed)  # told once the message can go
    if reason is NotifyReason.RESOLVED:
        sent_today += 1
        last_window = current_window or ""
    elif reason is not None:
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
        fixed=fixed if reason is NotifyReason.RESOLVED else (),
    )


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
    recovered: Mapping[str, Alert | None] | None = None,
    links: ConsoleLinks | None = None,
) -> list[OwnerPlan]:
    """Decide for every owner of ``receiver``: ``alerts`` are those its routes took
    (firing, unmuted, not baseline); ``records`` the stored state of its owners;
    ``recovered`` the items told of that recovered (their resolved alert, or None when
    the store no longer has it); ``links`` gives IT's escalations their console links.

    Owners with stored state and no failing item left get a plan that empties it (or
    tells them they are compliant again). ``preview`` (dry runs) shows what owners would
    be told, grace, window and cap aside.
    """
    assert receiver.owner is not None
    recovered = recovered or {}
    policy = replace(Policy.of(receiver.owner), send_resolved=receiver.send_resolved)
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
            address=address, recovered=recovered.keys(),
        )
        drafts: list[MessageDraft] = []
        if decision.reason is NotifyReason.RESOLVED:
            known = [a for fp in decision.fixed if (a := recovered.get(fp)) is not None]
            title, body = render_resolved(known, len(decision.fixed), now,
                                          max_items=policy.max_items)
            drafts.append(MessageDraft(
                group_key=key, receiver=receiver.name, reason=decision.reason, title=title,
                body=body, body_format="html", created_at=now, resolved=len(decision.fixed),
            ))
        elif decision.reason is not None:
            title, body = render_owner(
                decision.reason, decision.shown, decision.new, now, max_items=policy.max_items
            )
            drafts.append(MessageDraft(
                group_key=key, receiver=receiver.name, reason=decision.reason, title=title,
                body=body, body_format="html", created_at=now, firing=len(decision.shown),
            ))
        if decision.escalate and policy.escalate_to is not None:
            title, body = render_escalation(
                decision.escalate, address, now, max_items=policy.max_items, links=links
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
    "render_resolved",
    "with_recipient",
]
