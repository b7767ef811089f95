"""Delivering a rendered message through apprise: the only module that imports apprise.

:class:`AppriseSender` sends to a receiver's apprise URLs, one target after another, in
a worker thread with a timeout (apprise is blocking). :func:`default_sender` is what the
daemon uses: the console, apprise, then Alertmanager, each acting on its own receivers.
The sender protocol and the senders that wrap others are in
:mod:`monitor.notify.outgoing` (their names are importable from here too).

Every message travels with an :class:`~monitor.notify.envelope.Envelope`: its group key,
reason and counts. The group's *dedup key* (a hash of the group key, stable for the life
of the group) is handed to the receivers that can use it, so a resend updates an
incident instead of opening another: ``pagerduty://`` gets ``dedup=`` (and resolves its
incident with ``action=map`` when nothing fires any more), ``opsgenie://`` gets
``alias=``, and ``json://``/``jsons://`` webhooks get an
``X-Compliance-Monitor-Group-Key`` header and a ``group_key`` field. A key already in
the URL is left as the operator wrote it.

Digests carry a chart: attachments go to targets that take them
(:func:`takes_attachments`: e-mail, Discord, Telegram, a Slack bot,
``json://``/``form://``/``xml://`` webhooks, which embed the file...); the others (a
Slack or Mattermost incoming webhook, Google Chat, Teams workflows...) get a line in
the body with the attachment's ``link`` (or a note that the chart could not be
attached): :func:`monitor.notify.attachments.with_links`.

A failure that trying again cannot mend (a URL apprise cannot parse, a service answering
401 or 403) raises :class:`~monitor.errors.PermanentDeliveryError`, which the outbox
dead-letters at once with its reason; anything else is a plain ``DeliveryError`` and is
retried with backoff.

Apprise's notification type (which colours Slack and Teams messages) follows the
message's kind (:func:`~monitor.notify.outgoing.message_kind`).

Apprise URLs embed credentials. They never reach a log line or an error: apprise's own
logger is detached from the application's handlers, and what apprise says about a
failure is scrubbed of every part of the URL before it is quoted. Targets are named by
position and scheme (``#2 mailto``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote

import apprise
import structlog
from apprise.plugins.slack import NotifySlack, SlackMode

from monitor.config import Config, ReceiverConfig
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.notify.alertmanager import AlertmanagerSender
from monitor.notify.attachments import Attachment
from monitor.notify.console import ConsoleSender
from monitor.notify.envelope import Envelope
from monitor.notify.outgoing import (
    MessageKind,
    MeteredSender,
    MultiSender,
    Outgoing,
    Sender,
    current_kind,
    kind_of,
    message_kind,
)
from monitor.notify.scrub import scrub

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


_NOTIFY_TYPES: dict[MessageKind, Any] = {
    "failure": apprise.NotifyType.FAILURE,
    "warning": apprise.NotifyType.WARNING,
    "success": apprise.NotifyType.SUCCESS,
    "info": apprise.NotifyType.INFO,
}


# What a service answers when the credentials in the URL are refused.
_AUTH_REFUSED = re.compile(r"\b(401|403)\b|unauthori[sz]ed|forbidden", re.IGNORECASE)


def _has_param(url: str, name: str) -> bool:
    query = url.split("?", 1)[1] if "?" in url else ""
    return any(key == name for key, _ in parse_qsl(query, keep_blank_values=True))


def _add_params(url: str, params: Sequence[tuple[str, str]]) -> str:
    if not params:
        return url
    extra = "&".join(f"{quote(k, safe='+:')}={quote(v, safe='')}" for k, v in params)
    return url + ("&" if "?" in url else "?") + extra


#: The query parameters each service takes the dedup key in (``{key}`` is replaced),
#: added unless the URL already has them.
_DEDUP_PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "pagerduty": (("dedup", "{key}"), ("action", "map")),
    "opsgenie": (("alias", "{key}"),),
    "json": (("+" + GROUP_KEY_HEADER, "{key}"), (":group_key", "{key}")),
    "jsons": (("+" + GROUP_KEY_HEADER, "{key}"), (":group_key", "{key}")),
}
#: Services whose notification type opens and closes an incident: PagerDuty
#: (``action=map``) triggers or resolves on it; Opsgenie's default mapping opens (or,
#: same alias, updates) an alert on ``warning`` and closes it on ``success``.
_INCIDENT_SCHEMES = frozenset({"pagerduty", "opsgenie"})


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def keyed_url(url: str, envelope: Envelope | None) -> tuple[str, apprise.NotifyType]:
    """``url`` with the envelope's dedup key added where its service understands one,
    and the apprise notification type to send with.

    For PagerDuty and Opsgenie the type is ``success`` when the whole group resolved,
    ``warning`` otherwise. Other services get ``info``.
    """
    if envelope is None:
        return url, apprise.NotifyType.INFO
    scheme = _scheme(url)
    params = [
        (name, value.format(key=envelope.dedup_key))
        for name, value in _DEDUP_PARAMS.get(scheme, ())
        if not _has_param(url, name)
    ]
    notify_type = apprise.NotifyType.INFO
    if scheme in _INCIDENT_SCHEMES:
        notify_type = (
            apprise.NotifyType.SUCCESS if envelope.all_resolved else apprise.NotifyType.WARNING
        )
    return _add_params(url, params), notify_type


def _target_name(index: int, url: str) -> str:
    return f"#{index + 1} {_scheme(url) if '://' in url else '?'}"


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
            scheme = _scheme(url)
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

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Send to every URL of ``receiver`` (attachments to the targets that take
        them, links elsewhere); DeliveryError if any target failed,
        PermanentDeliveryError if every failure is one that retrying cannot mend."""
        urls = [u.get_secret_value() for u in receiver.urls]
        if not urls:
            return
        loop = asyncio.get_running_loop()
        kind = _NOTIFY_TYPES[current_kind()]
        call = loop.run_in_executor(None, self._notify_all, urls, message, kind)
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

    def _notify_all(self, urls: Sequence[str], message: Outgoing, kind: Any) -> list[str]:
        """Runs in a worker thread: notify each URL, return scrubbed failure reasons."""
        failures = []
        for i, url in enumerate(urls):
            reason = self._notify_one(url, message, kind)
            if reason is not None:
                failures.append(f"{_target_name(i, url)}: {scrub(reason, urls)}")
        return failures

    def _notify_one(self, url: str, message: Outgoing, kind: Any) -> str | None:
        keyed, notify_type = keyed_url(url, message.envelope)
        if notify_type == apprise.NotifyType.INFO:
            # Services without a type of their own get the message's (it colours them).
            notify_type = kind
        body, attachments = message.body, message.attachments
        try:
            target = apprise.Apprise(asset=self._asset)
            if not target.add(keyed):
                return "not a valid apprise URL"
            if attachments and not all(takes_attachments(p) for p in target):
                body, attachments = message.linked_body(), ()
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
                    title=message.title,
                    body_format=_FORMATS[message.body_format],
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


def default_sender(config: Config | None = None, *, console: TextIO | None = None) -> MultiSender:
    """Console, apprise, then Alertmanager (each acts on its own receivers): what the
    daemon uses.

    ``console`` is the stream for console receivers (stdout when None); the apprise
    timeout is ``notify.outbox.send_timeout`` of ``config`` (30s without a config).
    """
    timeout = config.notify.outbox.send_timeout.total_seconds() if config is not None else 30.0
    return MultiSender(ConsoleSender(console), AppriseSender(timeout=timeout), AlertmanagerSender())


__all__ = [
    "GROUP_KEY_HEADER", "AppriseSender", "Attachment", "ConsoleSender",
    "MessageKind", "MeteredSender", "MultiSender", "Outgoing", "Sender", "default_sender",
    "keyed_url", "kind_of", "message_kind", "scrub", "takes_attachments",
]
