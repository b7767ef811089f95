"""Routing, grouping, silences, templates, the outbox worker and the apprise sender.

The public entry point is :class:`NotifyPipeline`; apprise is imported only by
:mod:`monitor.notify.sender`.
"""

from monitor.notify.pipeline import DeliveryStats, NotifyPipeline
from monitor.notify.sender import AppriseSender, ConsoleSender, MultiSender, Sender
from monitor.notify.templates import RenderedMessage, Templates

__all__ = [
    "AppriseSender",
    "ConsoleSender",
    "DeliveryStats",
    "MultiSender",
    "NotifyPipeline",
    "RenderedMessage",
    "Sender",
    "Templates",
]
