"""Delivering a rendered message: the only module that imports apprise.

:class:`Sender` is the seam: ``send`` returns when the receiver's targets accepted the
message and raises :class:`~monitor.errors.DeliveryError` otherwise. Implementations:

- :class:`AppriseSender` sends to a receiver's apprise URLs, one target after another,
  in a worker thread with a timeout (apprise is blocking).
- :class:`ConsoleSender` prints the message to a text stream (stdout by default).
- :class:`MultiSender` runs several senders in order (console first, then apprise).

Every message travels with an :class:`Envelope`: its group key, reason and counts. The
group's *dedup key* (a hash of the group key, stable for the life of the group) is
handed to the receivers that can use it, so a resend updates an incident instead of
opening another: ``pagerduty://`` gets ``dedup=`` (and resolves its incident with
``action=map`` when nothing fires any more), ``opsgenie://`` gets ``alias=``, and
``json://``/``jsons://`` webhooks get an ``X-Compliance-Monitor-Group-Key`` header and a
``group_key`` field. A key already in the URL is left as the operator wrote it.

Digests carry a chart: ``send_attachments``
(:class:`~monitor.notify.attachments.AttachmentSender`) attaches files to targets that
take attachments (:func:`takes_attachments`: e-mail, Discord, Telegram, a Slack bot,
``json://``/``form://``/``xml://`` webhooks, which embed the file...) and, for the
others (a Slack or Mattermost incoming webhook, Google Chat, Teams workflows...), adds a
line to the body with the attachment's ``link`` (or says that the chart could not be
attached): :func:`monitor.notify.attachments.with_links`.

A failure that trying again cannot mend (a URL apprise cannot parse, a service answering
401 or 403) raises :class:`~monitor.errors.PermanentDeliveryError`, which the outbox
dead-letters at once with its reason; anything else is a plain ``DeliveryError`` and is
retried with backoff.

Apprise's notification type (which colours Slack and Teams messages) follows the message:
:func:`message_kind` sets it for the sends made inside it (``failure`` for a critical
firing message, ``warning`` for other firing ones, ``success`` for resolved ones, ``info``
for tests and when unset).

Apprise URLs embed credentials. They never reach a log line or an error: apprise's own
logger is detached from the application's handlers, and what apprise says about a
failure is scrubbed of every part of the URL before it is quoted. Targets are named by
position and scheme (``#2 mailto``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO
from urllib.parse import parse_qsl, quote

import apprise
import structlog
from apprise.plugins.slack import NotifySlack, SlackMode

from monitor.config import Config, ReceiverConfig
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.notify.alertmanager import AlertmanagerSender
from monitor.notify.attachments import Attachment, console_note, with_links
from monitor.notify.console import ConsoleSender
from monitor.notify.envelope import Envelope
from monitor.notify.scrub import scrub
from monitor.store.base import BodyFormat

log = structlog.get_logger(__name__)

# Apprise logs full URLs at debug level and host names (a Telegram bot token is one) on
# failures. Keep its records away from the application's handlers; failures are read
# from apprise's per-call result instead and scrubbed.
# Its level is pinned to WARNING so the debug records that carry URLs are never made.
_apprise_logger = logging.getLogger("apprise")
_apprise_logger.propagate = False
_apprise_logger.setLevel(logging.WARNING)
# urllib3 (under apprise's HTTP plugins; nothing else here uses it) logs request paths,
# where webhook tokens live, at debug level.
logging.getLogger("urllib3").setLevel(logging.WARNING)

_FORMATS = {
    "text": apprise.NotifyFormat.TEXT,
    "markdown": apprise.NotifyFormat.MARKDOWN,
    "html": apprise.NotifyFormat.HTML,
}


#: The header a JSON webhook receives the group's dedup key in.
GROUP_KEY_HEADER = "X-Compliance-Monitor-Group-Key"


MessageKind = Literal["failure", "warning", "success", "info"]

_KIND: ContextVar[MessageKind] = ContextVar("message_kind", default="info")

_NOTIFY_TYPES: dict[MessageKind, Any] = {
    "failure": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "success": apprise.NotifyType.SUCCESS,
    "info": apprise.NotifyType.INFO,
}


def kind_of(reason: str, severity: str | None = None) -> MessageKind:
    """The kind of a message: by its reason (resolved: success) and severity when known."""
    if reason == "resolved":
        return "success"
    if reason in ("first", "repeat"):
        return "warning" if severity in ("info", "warning") else "failure"
    return "info"


@contextlib.contextmanager
def message_kind(kind: MessageKind) -> Iterator[None]:
    """Sends made inside the block carry ``kind`` as apprise's notification type."""
    token = _KIND.set(kind)
    try:
        yield
    finally:
        _KIND.reset(token)


# What a service answers when the credentials in the URL are refused.
_AUTH_REFUSED = re.compile(r"\b(401|403)\b|unauthori[sz]ed|forbidden", re.IGNORECASE)


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


def _has_param(url: str, name: str) -> bool:
    query = url.split("?", 1)[1] if "?" in url else ""
    return any(key == name for key, _ in parse_qsl(query, keep_blank_values=True))


def _add_params(url: str, params: Sequence[tuple[str, str]]) -> str:
    if not params:
        return url
    extra = "&".join(f"{quote(k, safe='+:')}={quote(v, safe='')}" for k, v in params)
    return url + ("&" if "?" in url else "?") + extra


def keyed_url(url: str, envelope: Envelope | None) -> tuple[str, apprise.NotifyType]:
    """``url`` with the envelope's dedup key added where its service understands one,
    and the apprise notification type to send with.

    For PagerDuty and Opsgenie the type is ``success`` when the whole group resolved,
    ``warning`` otherwise: PagerDuty (``action=map``) triggers or resolves on it, and
    Opsgenie's default mapping opens or closes an alert. Other services get ``info``.
    """
    notify_type = apprise.NotifyType.INFO
    if envelope is None:
        return url, notify_type
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    key = envelope.dedup_key
    params: list[tuple[str, str]] = []
    if scheme == "pagerduty":
        if not _has_param(url, "dedup"):
            params.append(("dedup", key))
        if not _has_param(url, "action"):
            params.append(("action", "map"))
        notify_type = (
            apprise.NotifyType.SUCCESS if envelope.all_resolved else apprise.NotifyType.WARNING
        )
    elif scheme == "opsgenie":
        if not _has_param(url, "alias"):
            params.append(("alias", key))
        # Apprise's default mapping: warning opens (or, same alias, updates) an alert,
        # success closes the alerts this process opened; info would only add a note.
        notify_type = (
            apprise.NotifyType.SUCCESS if envelope.all_resolved else apprise.NotifyType.WARNING
        )
    elif scheme in ("json", "jsons"):
        if not _has_param(url, "+" + GROUP_KEY_HEADER):
            params.append(("+" + GROUP_KEY_HEADER, key))
        if not _has_param(url, ":group_key"):
            params.append((":group_key", key))
    return _add_params(url, params), notify_type


def _target_name(index: int, url: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    return f"#{index + 1} {scheme}"


class AppriseSender:
    """Sends through apprise. ``timeout`` bounds one send to one receiver, in seconds."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._asset = apprise.AppriseAsset(storage_mode="memory")

    def __repr__(self) -> str:
        return f"AppriseSender(timeout={self._timeout})"

    def check_url(self, url: str) -> str | None:
        """What is wrong with one apprise URL (never quoting it), or None."""
        if apprise.Apprise.instantiate(url, asset=self._asset) is None:
            scheme = url.split("://", 1)[0].lower() if "://" in url else ""
            if not scheme:
                return "not an apprise URL (no scheme://)"
            if not _scheme_known(scheme):
                return f"not a valid apprise URL: no service is called {scheme}://"
            return f"not a valid apprise URL: {scheme}:// does not accept what follows it"
        return None

    def check(self, receiver: ReceiverConfig) -> list[str]:
        """Problems with a receiver's URLs (by target name, never the URL itself)."""
        problems = []
        for i, secret in enumerate(receiver.urls):
            url = secret.get_secret_value()
            if apprise.Apprise.instantiate(url, asset=self._asset) is None:
                problems.append(f"{_target_name(i, url)}: not a valid apprise URL")
        return problems

    async def send(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        envelope: Envelope | None = None,
    ) -> None:
        """Send to every URL of ``receiver``; DeliveryError if any target failed."""
        urls = [u.get_secret_value() for u in receiver.urls]
        if not urls:
            return
        loop = asyncio.get_running_loop()
        kind = _NOTIFY_TYPES[_KIND.get()]
        call = loop.run_in_executor(
            None, self._notify_all, urls, title, body, body_format, envelope, (), kind
        )
        try:
            failures = await asyncio.wait_for(call, self._timeout)
        except TimeoutError:
            raise DeliveryError(
                f"receiver {receiver.name}: no answer within {self._timeout:g}s"
            ) from None
        if failures:
            text = (
                f"receiver {receiver.name}: {len(failures)} of {len(urls)} target(s) failed: "
                + "; ".join(failures)
            )
            if all(_permanent(reason) for reason in failures):
                raise PermanentDeliveryError(text)
            raise DeliveryError(text)

    async def send_attachments(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        attachments: Sequence[Attachment],
    ) -> None:
        """:meth:`send` with ``attachments`` on targets that take them, links elsewhere."""
        urls = [u.get_secret_value() for u in receiver.urls]
        if not urls:
            return
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(
            None, self._notify_all, urls, title, body, body_format, None, tuple(attachments)
        )
        try:
            failures = await asyncio.wait_for(call, self._timeout)
        except TimeoutError:
            raise DeliveryError(
                f"receiver {receiver.name}: no answer within {self._timeout:g}s"
            ) from None
        if failures:
            raise DeliveryError(
                f"receiver {receiver.name}: {len(failures)} of {len(urls)} target(s) failed: "
                + "; ".join(failures)
            )

    def _notify_all(
        self,
        urls: Sequence[str],
        title: str,
        body: str,
        body_format: BodyFormat,
        envelope: Envelope | None,
        attachments: Sequence[Attachment] = (),
        kind: Any = apprise.NotifyType.INFO,
    ) -> list[str]:
        """Runs in a worker thread: notify each URL, return scrubbed failure reasons."""
        failures = []
        for i, url in enumerate(urls):
            reason = self._notify_one(
                url, title, body, body_format, envelope, attachments, kind
            )
            if reason is not None:
                failures.append(f"{_target_name(i, url)}: {scrub(reason, urls)}")
        return failures

    def _notify_one(
        self,
        url: str,
        title: str,
        body: str,
        body_format: BodyFormat,
        envelope: Envelope | None,
        attachments: Sequence[Attachment] = (),
        kind: Any = apprise.NotifyType.INFO,
    ) -> str | None:
        keyed, notify_type = keyed_url(url, envelope)
        if notify_type == apprise.NotifyType.INFO:
            # Services without a type of their own get the message's (it colours them).
            notify_type = kind
        try:
            target = apprise.Apprise(asset=self._asset)
            if not target.add(keyed):
                return "not a valid apprise URL"
            if attachments and not all(takes_attachments(p) for p in target):
                body, attachments = with_links(body, body_format, attachments), ()
            with tempfile.TemporaryDirectory(prefix="compliance-monitor-") as folder:
                attach = None
                if attachments:
                    attach = apprise.AppriseAttachment(asset=self._asset)
                    for a in attachments:
                        path = Path(folder) / Path(a.name).name
                        path.write_bytes(a.data)
                        attach.add(str(path))
                result: Any = target.notify(
                    body=body,
                    title=title,
                    body_format=_FORMATS[body_format],
                    attach=attach,
                    notify_type=notify_type,
                )
        except Exception as exc:  # apprise plugins may raise anything
            return f"apprise raised {exc.__class__.__name__}"
        if bool(result):
            return None
        messages = [
            str(entry.message)
            for entry in _logs(result)
            if str(getattr(entry, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL")
        ]
        return " / ".join(messages[-3:]) or "apprise reported a failure"


def takes_attachments(plugin: Any) -> bool:
    """Whether an apprise plugin will deliver files: what it declares, except that
    apprise declares it for every Slack URL while only a bot token uploads files (an
    incoming webhook drops them with a warning, so the chart would vanish unseen)."""
    if not getattr(plugin, "attachment_support", False):
        return False
    if isinstance(plugin, NotifySlack):
        return bool(plugin.mode == SlackMode.BOT)
    return True


def _scheme_known(scheme: str) -> bool:
    try:
        details: Any = apprise.Apprise().details()
        for service in details.get("schemas", []):
            protocols = [
                *(service.get("protocols") or ()), *(service.get("secure_protocols") or ())
            ]
            if scheme in (str(p).lower() for p in protocols):
                return True
    except Exception:  # only an explanation; "invalid" stands either way
        return True
    return False


def _permanent(reason: str) -> bool:
    """Whether a target's failure is one retrying cannot mend (bad URL, refused auth)."""
    return "not a valid apprise URL" in reason or bool(_AUTH_REFUSED.search(reason))


def _logs(result: Any) -> list[Any]:
    logs = getattr(result, "logs", None)
    if logs is None:
        return []
    try:
        return list(logs())
    except Exception:  # a best-effort explanation only
        return []


class MultiSender:
    """Runs several senders in order; the first failure stops the rest and is raised."""

    def __init__(self, *senders: Sender) -> None:
        self._senders = senders

    async def send(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        envelope: Envelope | None = None,
    ) -> None:
        """Send through each sender in turn."""
        for sender in self._senders:
            await sender.send(receiver, title, body, body_format, envelope)

    async def send_attachments(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        attachments: Sequence[Attachment],
    ) -> None:
        """Send through each sender in turn, with attachments where it can."""
        for sender in self._senders:
            await send_with_attachments(sender, receiver, title, body, body_format, attachments)


async def send_with_attachments(
    sender: Sender,
    receiver: ReceiverConfig,
    title: str,
    body: str,
    body_format: BodyFormat,
    attachments: Sequence[Attachment],
) -> None:
    """Deliver through ``sender`` with attachments if it takes them; otherwise the body
    carries the attachments' links (a console receiver lists their names)."""
    send_attachments = getattr(sender, "send_attachments", None)
    if send_attachments is not None:
        await send_attachments(receiver, title, body, body_format, attachments)
        return
    if isinstance(sender, ConsoleSender):
        await sender.send(receiver, title, body + "\n" + console_note(attachments),
                          body_format)
        return
    await sender.send(receiver, title, with_links(body, body_format, attachments), body_format)


def default_sender(config: Config | None = None, *, console: TextIO | None = None) -> MultiSender:
    """Console, apprise, then Alertmanager (each acts on its own receivers): what the
    daemon uses.

    ``console`` is the stream for console receivers (stdout when None); the apprise
    timeout is ``notify.outbox.send_timeout`` of ``config`` (30s without a config).
    """
    timeout = config.notify.outbox.send_timeout.total_seconds() if config is not None else 30.0
    return MultiSender(ConsoleSender(console), AppriseSender(timeout=timeout), AlertmanagerSender())


class MeteredSender:
    """Reports each delivery's outcome (receiver name, ok) around another sender."""

    def __init__(self, inner: Sender, observe: Callable[[str, bool], None]) -> None:
        self.inner = inner
        self._observe = observe

    async def send(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: BodyFormat,
        envelope: Envelope | None = None,
    ) -> None:
        """Send through the inner sender and count the outcome."""
        try:
            await self.inner.send(receiver, title, body, body_format, envelope)
        except Exception:
            self._observe(receiver.name, False)
            raise
        self._observe(receiver.name, True)


__all__ = [
    "GROUP_KEY_HEADER", "AppriseSender", "Attachment", "ConsoleSender", "MessageKind",
    "MeteredSender", "MultiSender", "Sender", "default_sender", "keyed_url", "kind_of",
    "message_kind", "scrub", "send_with_attachments", "takes_attachments",
]
