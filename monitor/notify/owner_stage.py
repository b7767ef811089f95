"""The owner-notice stage of the pipeline: store in, outbox out (see ``owners.py``).

:class:`OwnerNotices` is the pipeline's only contact with owner receivers: it tells
which receivers are owner receivers (their route groups are left to it), plans and
commits the owner messages of one evaluation, and gives the delivery step a copy of
the receiver addressed to the owner of a queued message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from datetime import datetime

import structlog

from monitor.config import Config, ReceiverConfig
from monitor.models import Alert, AlertState
from monitor.notify.labels import alert_labels
from monitor.notify.owners import OwnerPlan, is_owner_key, plan_owners, with_recipient
from monitor.notify.routing import Route, alert_age
from monitor.sources.links import ConsoleLinks
from monitor.store.base import Lease, OutboxMessage, OwnerRecord, Store

log = structlog.get_logger(__name__)


class RecipientUnknown(LookupError):
    """A queued owner message whose owner the store no longer knows."""


class OwnerNotices:
    """Plans, queues and addresses owner notices for the receivers with ``owner:``."""

    def __init__(self, config: Config, store: Store) -> None:
        self._config = config
        self._store = store
        self.receivers: frozenset[str] = frozenset(
            r.name for r in config.receivers if r.owner is not None
        )
        self._links = ConsoleLinks.of(config.sources)

    def __repr__(self) -> str:
        return f"OwnerNotices(receivers={sorted(self.receivers)})"

    def __bool__(self) -> bool:
        return bool(self.receivers)

    async def plan(
        self,
        alerts: Mapping[str, Alert],
        root: Route,
        muted: Set[str],
        now: datetime,
        *,
        preview: bool = False,
    ) -> list[OwnerPlan]:
        """Every owner's plan at ``now``: the alerts each owner receiver's routes take
        (``preview``: grace, window and cap aside, for dry runs)."""
        if not self.receivers:
            return []
        taken: dict[str, list[Alert]] = {name: [] for name in self.receivers}
        for fp, alert in alerts.items():
            if fp in muted:
                continue
            # With its age, so an alert that ages into another route (``age: {over: 7d}``
            # to IT, say) leaves the owner's notices as it leaves the owner route.
            routes = root.route(alert_labels(alert), alert_age(alert, now))
            receivers = {r.receiver for r in routes}
            for name in receivers & self.receivers:
                taken[name].append(alert)
        records = await self._store.owner_records()
        recovered = _recovered(alerts, records.values())
        plans: list[OwnerPlan] = []
        for name in sorted(self.receivers):
            receiver = self._config.receiver(name)
            plans.extend(plan_owners(receiver, taken[name], records, now, preview=preview,
                                     recovered=recovered, links=self._links))
        return plans

    async def commit(
        self, plans: list[OwnerPlan], *, lease: Lease | None = None
    ) -> list[OutboxMessage]:
        """Write each plan's state and messages (one transaction per owner), fenced by
        ``lease`` (StaleLeaseError once it is no longer held)."""
        queued: list[OutboxMessage] = []
        for plan in plans:
            record = plan.record
            if record is None:
                continue
            messages = await self._store.save_owner(record, plan.drafts, lease=lease)
            queued.extend(messages)
            d = plan.decision
            log.info(
                "notify.owner_evaluated", owner=plan.key, reason=d.reason.value if d.reason else "",
                held=d.held, items=len(record.items), shown=len(d.shown),
                escalated=len(d.escalate), queued=len(messages),
            )
        return queued

    async def addressed(self, message: OutboxMessage, receiver: ReceiverConfig) -> ReceiverConfig:
        """The receiver to deliver ``message`` through: for an owner message, a copy
        whose mail goes to that owner; any other message's receiver as is."""
        if receiver.owner is None:
            return receiver
        if not is_owner_key(message.group_key):
            raise RecipientUnknown("an owner receiver's message without an owner")
        records = await self._store.owner_records(receiver.name)
        record = records.get(message.group_key)
        if record is None or not record.address:
            raise RecipientUnknown("the owner of this message is no longer known")
        return with_recipient(receiver, record.address)


def _recovered(
    alerts: Mapping[str, Alert], records: Iterable[OwnerRecord]
) -> dict[str, Alert | None]:
    """The items owners were told of that recovered: their resolved alert, or None when
    the store no longer holds it. Muted, pending or re-routed items are not recovered."""
    out: dict[str, Alert | None] = {}
    for record in records:
        for fp in record.items:
            alert = alerts.get(fp)
            if alert is None or alert.state is AlertState.RESOLVED:
                out[fp] = alert
    return out
