"""A message on its way out, the sender protocol, and the senders that wrap others.

:class:`Sender` is the seam the outbox and the digests deliver through: one method,
``deliver``, that takes the whole :class:`Outgoing` message (title, body, format,
envelope, attachments) and returns when the receiver's targets accepted it, raising
:class:`~monitor.errors.DeliveryError` otherwise. A sender whose channel takes no
files (a digest's chart) puts the attachments' links in the body instead
(:meth:`Outgoing.linked_body`).

- :class:`MultiSender` runs several senders in order (console first, then apprise...).
- :class:`MeteredSender` reports each delivery's outcome around another sender.

The apprise sender lives in :mod:`monitor.notify.sender`, the only module that imports
apprise; the console in :mod:`monitor.notify.console`, Alertmanager in
:mod:`monitor.notify.alertmanager`; attachments and their links in
:mod:`monitor.notify.attachments`.

What kind of message is being sent (which colours Slack and Teams messages) travels
beside the call: :func:`message_kind` sets it for the sends made inside it (``failure``
for a critical firing message, ``warning`` for other firing ones, ``success`` for
resolved ones, ``info`` for tests and when unset); :func:`current_kind` reads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal, Protocol

from monitor.config import ReceiverConfig
from monitor.notify.attachments import Attachment, with_links
from monitor.notify.envelope import Envelope
from monitor.store.base import BodyFormat

MessageKind = Literal["failure", "warning", "success", "info"]

_KIND: ContextVar[MessageKind] = ContextVar("message_kind", default="info")


def kind_of(reason: str, severity: str | None = None) -> MessageKind:
    """The kind of a message: by its reason (resolved: success) and severity when known."""
    if reason == "resolved":
        return "success"
    if reason in ("first", "repeat"):
        return "warning" if severity in ("info", "warning") else "failure"
    return "info"


@contextlib.contextmanager
def message_kind(kind: MessageKind) -> Iterator[None]:
    """Sends made inside the block carry ``kind`` (apprise's notification type)."""
    token = _KIND.set(kind)
    try:
        yield
    finally:
        _KIND.reset(token)


def current_kind() -> MessageKind:
    """The kind :func:`message_kind` set for the send in progress (``info`` unset)."""
    return _KIND.get()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message on its way to one receiver."""

    title: str
    body: str
    body_format: BodyFormat
    envelope: Envelope | None = None
    attachments: tuple[Attachment, ...] = ()

    def linked_body(self) -> str:
        """The body with a line per attachment (its link), for channels that take none."""
        return with_links(self.body, self.body_format, self.attachments)


class Sender(Protocol):
    """Delivers one message to one receiver."""

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Deliver ``message`` to ``receiver``, or raise DeliveryError. A sender whose
        channel takes no files puts the attachments' links in the body
        (:meth:`Outgoing.linked_body`)."""
        ...


class MultiSender:
    """Runs several senders in order; the first failure stops the rest and is raised."""

    def __init__(self, *senders: Sender) -> None:
        self._senders = senders

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Send through each sender in turn."""
        for sender in self._senders:
            await sender.deliver(receiver, message)


class MeteredSender:
    """Reports each delivery's outcome (receiver name, ok) around another sender."""

    def __init__(self, inner: Sender, observe: Callable[[str, bool], None]) -> None:
        self.inner = inner
        self._observe = observe

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Send through the inner sender and count the outcome."""
        try:
            await self.inner.deliver(receiver, message)
        except Exception:
            self._observe(receiver.name, False)
            raise
        self._observe(receiver.name, True)


__all__ = [
    "MessageKind",
    "MeteredSender",
    "MultiSender",
    "Outgoing",
    "Sender",
    "current_kind",
    "kind_of",
    "message_kind",
]
