"""Real servers on loopback for tests: an SMTP server (aiosmtpd) and a webhook receiver."""

from __future__ import annotations

import email
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """What a loopback SMTP server received; refuses the first ``refuse`` messages (451)."""

    password: str = ""
    refuse: int = 0
    received: list[EmailMessage] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        return AuthResult(success=data.password == self.password.encode())

    def texts(self) -> list[str]:
        """Subject and every text part of every message, one string per message."""
        out = []
        for msg in self.received:
            parts = [str(msg["Subject"])]
            for part in msg.walk():
                if part.get_content_maintype() == "text" and isinstance(part, EmailMessage):
                    parts.append(str(part.get_content()))
            out.append("\n".join(parts))
        return out


@contextmanager
def smtp_server(password: str, *, refuse: int = 0) -> Iterator[tuple[Mailbox, int]]:
    """An SMTP server on 127.0.0.1 (AUTH without TLS) for apprise ``mailto://`` URLs."""
    box = Mailbox(password=password, refuse=refuse)
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=box.authenticate,
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def mailto_url(port: int, password: str, to: str = "ops@example.com") -> str:
    """An apprise URL that sends through :func:`smtp_server` without TLS."""
    return (
        f"mailto://monitor:{password}@127.0.0.1:{port}"
        f"?from=monitor@example.com&to={to}&smtp=127.0.0.1&mode=insecure"
    )


@dataclass
class Webhook:
    """What a loopback webhook received (apprise ``json://`` bodies), in order."""

    status: int = 200
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def titles(self) -> list[str]:
        return [str(b.get("title", "")) for b in self.bodies]

    def text(self) -> str:
        return "\n".join(f"{b.get('title', '')}\n{b.get('message', '')}" for b in self.bodies)


@asynccontextmanager
async def webhook_server(path: str = "/hook") -> AsyncIterator[tuple[Webhook, int]]:
    """An HTTP server on 127.0.0.1 recording every JSON POST to ``path``."""
    hook = Webhook()

    async def receive(request: web.Request) -> web.Response:
        hook.bodies.append(await request.json())
        return web.Response(status=hook.status)

    app = web.Application()
    app.router.add_post(path, receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield hook, port
    finally:
        await runner.cleanup()


@dataclass
class SlackHook:
    """What a loopback stand-in for Slack's incoming webhooks received: apprise's
    ``slack://`` payloads (JSON) and the files it tried to upload (none, for a webhook)."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    uploads: int = 0

    def texts(self) -> str:
        """Every payload as JSON text, one per line: what Slack would render."""
        import json

        return "\n".join(json.dumps(p, ensure_ascii=False) for p in self.payloads)


@asynccontextmanager
async def slack_webhook() -> AsyncIterator[tuple[SlackHook, str]]:
    """A server answering like ``https://hooks.slack.com/services`` (``ok``), and that
    base URL on 127.0.0.1: give it to apprise's Slack plugin (see ``slack_to_loopback``)."""
    hook = SlackHook()

    async def receive(request: web.Request) -> web.Response:
        if request.content_type.startswith("multipart/"):
            hook.uploads += 1
        else:
            hook.payloads.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/services/{a}/{b}/{c}", receive)
    app.router.add_post("/api/{method}", receive)  # a bot's calls, files included
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    try:
        yield hook, f"http://127.0.0.1:{port}/services"
    finally:
        await runner.cleanup()


#: A ``slack://`` webhook URL (tokens in Slack's shapes); apprise posts it to
#: ``{webhook_url}/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F``.
SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F"


def slack_to_loopback(monkeypatch: Any, base_url: str) -> None:
    """Point apprise's Slack webhooks at ``base_url`` (a :func:`slack_webhook`) for one
    test: the plugin is the real one, only the host it posts to changes."""
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifySlack, "webhook_url", base_url)
