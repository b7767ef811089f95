"""A message on its way out, the sender protocol, and the senders that wrap others.

:class:`Sender` is the seam the outbox and the digests deliver through: ``send`` returns
when the receiver's targets accepted the message and raises
:class:`~monitor.errors.DeliveryError` otherwise. Senders that can also deliver files
(a digest's chart) have ``send_attachments``; :func:`send_with_attachments` uses it
where there is one and otherwise puts the attachments' links in the body.

A sender derives from :class:`Channel` and implements one method,
:meth:`Channel.deliver`, that takes the whole :class:`Outgoing` message (title, body,
format, envelope, attachments); ``send`` and ``send_attachments`` are built on it.

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
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
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

    async def send(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        envelope: Envelope | None = None,
    ) -> None:
        """Deliver, or raise DeliveryError."""
        ...


async def send_with_attachments(
    sender: Sender,
    receiver: ReceiverConfig,
    title: str,
    body: str,
    body_format: BodyFormat,
    attachments: Sequence[Attachment],
) -> None:
    """Deliver through ``sender`` with attachments if it takes them; otherwise the body
    carries the attachments' links."""
    send_attachments = getattr(sender, "send_attachments", None)
    if send_attachments is not None:
        await send_attachments(receiver, title, body, body_format, attachments)
        return
    await sender.send(receiver, title, with_links(body, body_format, attachments), body_format)


async def send_message(sender: Sender, receiver: ReceiverConfig, message: Outgoing) -> None:
    """Deliver ``message`` through any :class:`Sender` (its envelope, or its attachments)."""
    if isinstance(sender, Channel):
        await sender.deliver(receiver, message)
    elif message.attachments:
        await send_with_attachments(
            sender, receiver, message.title, message.body, message.body_format,
            message.attachments,
        )
    else:
        await sender.send(
            receiver, message.title, message.body, message.body_format, message.envelope
        )


class Channel(ABC):
    """A :class:`Sender` (with attachments) written as one :meth:`deliver`."""

    async def send(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        envelope: Envelope | None = None,
    ) -> None:
        """Deliver the message, or raise DeliveryError."""
        await self.deliver(receiver, Outgoing(title, body, body_format, envelope))

    async def send_attachments(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        attachments: Sequence[Attachment],
    ) -> None:
        """Deliver the message with ``attachments``, or raise DeliveryError."""
        await self.deliver(receiver, Outgoing(title, body, body_format, None, tuple(attachments)))

    @abstractmethod
    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Deliver ``message`` to ``receiver``, or raise DeliveryError."""


class MultiSender(Channel):
    """Runs several senders in order; the first failure stops the rest and is raised."""

    def __init__(self, *senders: Sender) -> None:
        self._senders = senders

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Send through each sender in turn (with attachments where it can)."""
        for sender in self._senders:
            await send_message(sender, receiver, message)


class MeteredSender(Channel):
    """Reports each delivery's outcome (receiver name, ok) around another sender."""

    def __init__(self, inner: Sender, observe: Callable[[str, bool], None]) -> None:
        self.inner = inner
        self._observe = observe

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Send through the inner sender and count the outcome."""
        try:
            await send_message(self.inner, receiver, message)
        except Exception:
            self._observe(receiver.name, False)
            raise
        self._observe(receiver.name, True)


__all__ = [
    "Channel",
    "MessageKind",
    "MeteredSender",
    "MultiSender",
    "Outgoing",
    "Sender",
    "current_kind",
    "kind_of",
    "message_kind",
    "send_message",
    "send_with_attachments",
]
