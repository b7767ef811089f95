"""Routing, grouping, silences, templates, planning, outbox delivery, the apprise sender.

Two parts: :class:`NotifyPlanner` (route, group, decide, render, enqueue; from the
alert state each sweep hands over) and :class:`OutboxDelivery` (send, back off,
dead-letter). :class:`NotifyPipeline` runs both in one loop. apprise is imported only
by :mod:`monitor.notify.sender`.
"""

from monitor.notify.delivery import DeliveryStats, OutboxDelivery
from monitor.notify.pipeline import NotifyPipeline
from monitor.notify.planner import NotifyPlanner
from monitor.notify.sender import AppriseSender, ConsoleSender, MultiSender, Sender
from monitor.notify.templates import RenderedMessage, Templates

__all__ = [
    "AppriseSender",
    "ConsoleSender",
    "DeliveryStats",
    "MultiSender",
    "NotifyPipeline",
    "NotifyPlanner",
    "OutboxDelivery",
    "RenderedMessage",
    "Sender",
    "Templates",
]
