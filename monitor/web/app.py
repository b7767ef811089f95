"""The HTTP face of the monitor: status page, JSON API, /metrics, /healthz, /readyz.

Routes::

    GET /               status page (HTML, no JavaScript, reloads itself); ?q=WORDS
                        shows only the alerts whose device, serial, rule or item match
    GET /api/status     everything below plus summary and readiness, as one object
    GET /api/alerts     {"alerts": [...]}; filters: state, source, severity, rule_id, silenced
    GET /api/sources    {"sources": [...]}
    GET /api/silences   {"silences": [...]}
    GET /api/dead-letters  {"dead_letters": [...]}: notifications given up on
    GET /metrics        Prometheus text format
    GET /healthz        200 "ok" while the process serves requests (never needs the token)
    GET /readyz         200 "ready", or 503 with one reason per line

When a token is configured every route but /healthz and /readyz needs it, either as
``Authorization: Bearer <token>`` (scrapers, curl) or as the password of HTTP Basic
authentication with any user name (browsers ask for it themselves; no cookie, no token
in URLs, where it would end up in proxy logs and browser history). /readyz answers
without the token with its status code and one word (so a container health check needs
no secret); the reasons need the token. A token given but empty refuses to start: it is
never "no authentication". Failed attempts are slowed: after
:data:`MAX_FAILURES` failures from one address within :data:`FAILURE_WINDOW` seconds,
that address gets 429 until the window has passed.

The ``Host`` header must name an allowed host (``web.allowed_hosts``, plus the loopback
names, plus any name when listening beyond loopback without a list): a page on another
site that rebinds its DNS name to 127.0.0.1 gets 421, never the fleet's data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiohttp import web
from multidict import CIMultiDict
from pydantic import SecretStr

from monitor.clock import Clock, SystemClock
from monitor.config import WebConfig
from monitor.errors import StartError
from monitor.log import redact, register_secret
from monitor.metrics import CONTENT_TYPE, Metrics
from monitor.web.page import PageOptions, render_error_page, render_status_page
from monitor.web.provider import StatusProvider
from monitor.web.view import AlertView, summarize, to_json

log = structlog.get_logger(__name__)

PROVIDER_KEY = web.AppKey("provider", StatusProvider)
METRICS_KEY = web.AppKey("metrics", Metrics)
CLOCK_KEY = web.AppKey("clock", Clock)
OPTIONS_KEY = web.AppKey("page_options", PageOptions)

OPEN_PATHS = frozenset({"/healthz"})
READY_PATH = "/readyz"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
MAX_FAILURES = 10
FAILURE_WINDOW = 60.0
AUTHORIZED_KEY = web.RequestKey("authorized", bool)
REALM = "compliance-monitor"

# No script may run, nothing may be framed or loaded from elsewhere; the page's CSS is inline.
# Forms may only submit to the monitor itself (the status page's filter is a GET form).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_web_app(
    provider: StatusProvider,
    metrics: Metrics,
    *,
    token: SecretStr | None,
    clock: Clock | None = None,
    options: PageOptions | None = None,
    listen_host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] = (),
) -> web.Application:
    """The aiohttp application serving the status page, the JSON API and the probes.

    ``token``: when set, every route but /healthz requires it (see the module docstring);
    an empty one raises StartError. ``clock``: what "now" is for relative times on the
    page (the system clock by default). ``listen_host``/``allowed_hosts``: which ``Host``
    headers are served (see the module docstring).
    """
    expected = token.get_secret_value() if token is not None else None
    if expected is not None and not expected.strip():
        raise StartError("web.token", "is empty: refusing to serve without authentication")
    if expected:
        register_secret(expected)
    clock = clock or SystemClock()
    middlewares: list[Any] = [_host_middleware(_allowed_hosts(listen_host, allowed_hosts))]
    if expected:
        middlewares.append(_auth_middleware(expected, clock))
    app = web.Application(middlewares=middlewares)
    app[PROVIDER_KEY] = provider
    app[METRICS_KEY] = metrics
    app[CLOCK_KEY] = clock
    app[OPTIONS_KEY] = options or PageOptions()
    app.on_response_prepare.append(_add_security_headers)
    app.router.add_get("/", _status_page)
    app.router.add_get("/api/status", _api_status)
    app.router.add_get("/api/alerts", _api_alerts)
    app.router.add_get("/api/sources", _api_list("sources", lambda p: p.sources()))
    app.router.add_get("/api/silences", _api_list("silences", lambda p: p.silences()))
    app.router.add_get(
        "/api/dead-letters", _api_list("dead_letters", lambda p: p.dead_letters())
    )
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app


async def serve(
    provider: StatusProvider, metrics: Metrics, config: WebConfig, clock: Clock
) -> tuple[web.AppRunner, int]:
    """Build the web app as ``config`` (the ``web:`` section) says and serve it; returns
    (runner, actual port) like :func:`start_web`."""
    webapp = build_web_app(
        provider, metrics, token=config.token, clock=clock, listen_host=config.host,
        allowed_hosts=config.allowed_hosts,
    )
    runner, port = await start_web(webapp, config.host, config.port)
    log.info("status page", url=f"http://{config.host}:{port}/")
    return runner, port


async def start_web(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0 picks a free port); returns (runner, actual port).

    A port that cannot be bound raises :class:`~monitor.errors.StartError`.
    Stop it with ``await runner.cleanup()``. aiohttp's access log is off: it would log
    every scrape, and a request line is no place to look for problems.
    """
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise StartError(
            f"web {host}:{port}", exc.strerror or exc.__class__.__name__
        ) from exc
    actual_port = int(runner.addresses[0][1])
    log.info("web listening", host=host, port=actual_port)
    return runner, actual_port


# --------------------------------------------------------------------------- auth


def _allowed_hosts(listen_host: str, allowed: Sequence[str]) -> frozenset[str] | None:
    """The ``Host`` names served, or None for any (beyond loopback, no list given)."""
    if allowed:
        return LOOPBACK_NAMES | {h.lower() for h in allowed}
    if listen_host in LOOPBACK_NAMES:
        return LOOPBACK_NAMES
    return None


def _host_name(header: str) -> str:
    """The host of a ``Host`` header, port removed, lower case (``[::1]`` kept whole)."""
    host = header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _host_middleware(allowed: frozenset[str] | None) -> Any:
    @web.middleware
    async def check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if allowed is not None:
            host = _host_name(request.headers.get("Host", ""))
            if host not in allowed:
                log.warning("web refused an unknown Host", path=request.path)
                return web.Response(status=421, text="unknown host\n")
        return await handler(request)

    return check_host


def _auth_middleware(expected: str, clock: Clock) -> Any:
    expected_bytes = expected.encode()
    failures: dict[str, list[float]] = {}

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        peer = request.remote or "?"
        now = clock.monotonic()
        recent = [t for t in failures.get(peer, ()) if now - t < FAILURE_WINDOW]
        given = _credential(request.headers.get("Authorization", ""))
        if len(recent) >= MAX_FAILURES:
            failures[peer] = recent
            wait = max(1, int(FAILURE_WINDOW - (now - recent[0])) + 1)
            return web.Response(
                status=429, text="too many failed attempts\n",
                headers={"Retry-After": str(wait)},
            )
        if given is not None and hmac.compare_digest(given, expected_bytes):
            request[AUTHORIZED_KEY] = True
            return await handler(request)
        if request.path == READY_PATH:
            request[AUTHORIZED_KEY] = False
            return await handler(request)  # status and one word only (see _readyz)
        if given is not None:
            recent.append(now)
            if len(failures) > 10_000:  # bounded, whoever knocks
                failures.clear()
        failures[peer] = recent
        log.debug("web unauthorized", path=request.path, had_credentials=given is not None)
        return _unauthorized()

    return require_token


def _credential(header: str) -> bytes | None:
    """The secret in an ``Authorization`` header: a bearer token or a Basic password."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value.encode()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        _, sep, password = decoded.partition(b":")
        return password if sep else None
    return None


def _unauthorized() -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    # Basic first: it is the scheme a browser can prompt for.
    headers.add("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')
    headers.add("WWW-Authenticate", f'Bearer realm="{REALM}"')
    return web.Response(status=401, text="authentication required\n", headers=headers)


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


# --------------------------------------------------------------------------- pages


async def _status_page(request: web.Request) -> web.Response:
    provider = request.app[PROVIDER_KEY]
    try:
        alerts, sources, silences, ready, dead_letters, trend = await asyncio.gather(
            provider.alerts(),
            provider.sources(),
            provider.silences(),
            provider.ready(),
            provider.dead_letters(),
            provider.trend(),
        )
    except Exception as exc:  # the page must say "unavailable", not crash the handler
        log.error("status page unavailable", error=redact(str(exc)), error_type=type(exc).__name__)
        html = render_error_page(
            "Status unavailable",
            "The monitor could not read its current state. The page will retry by itself; "
            "the daemon's log says why.",
        )
        return web.Response(status=503, text=html, content_type="text/html")
    html = render_status_page(
        alerts=alerts,
        sources=sources,
        silences=silences,
        ready=ready,
        now=request.app[CLOCK_KEY].now(),
        options=request.app[OPTIONS_KEY],
        dead_letters=dead_letters,
        trend=trend,
        query=request.query.get("q", ""),
    )
    return web.Response(text=html, content_type="text/html")


# --------------------------------------------------------------------------- JSON API


def _json(data: Any, status: int = 200) -> web.Response:
    body = json.dumps(_redact_tree(data), ensure_ascii=False, indent=1)
    return web.Response(status=status, text=body + "\n", content_type="application/json")


def _redact_tree(value: Any) -> Any:
    """Every string in a JSON-ready tree, with registered secrets replaced."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_tree(v) for k, v in value.items()}
    return value


def _unavailable(what: str, exc: Exception) -> web.Response:
    log.error(
        "status api unavailable", what=what, error=redact(str(exc)), error_type=type(exc).__name__
    )
    return _json({"error": f"{what} unavailable"}, status=503)


_ALERT_FILTERS = ("state", "source", "severity", "rule_id", "source_kind")


def _alert_filter(request: web.Request) -> Callable[[AlertView], bool]:
    wanted = {k: request.query[k] for k in _ALERT_FILTERS if k in request.query}
    silenced = request.query.get("silenced")
    silenced_flag = None if silenced is None else silenced.lower() in ("1", "true", "yes")

    def keep(a: AlertView) -> bool:
        if silenced_flag is not None and a.silenced != silenced_flag:
            return False
        return all(str(getattr(a, k)) == v for k, v in wanted.items())

    return keep


async def _api_alerts(request: web.Request) -> web.Response:
    try:
        alerts = await request.app[PROVIDER_KEY].alerts()
    except Exception as exc:
        return _unavailable("alerts", exc)
    keep = _alert_filter(request)
    return _json({"alerts": to_json([a for a in alerts if keep(a)])})


def _api_list(key: str, read: Callable[[StatusProvider], Awaitable[Sequence[Any]]]) -> Handler:
    """``GET /api/<key>``: ``{key: [...]}`` from the provider, or 503 saying what failed."""

    async def handler(request: web.Request) -> web.Response:
        try:
            items = await read(request.app[PROVIDER_KEY])
        except Exception as exc:
            return _unavailable(key.replace("_", " "), exc)
        return _json({key: to_json(items)})

    return handler


async def _api_status(request: web.Request) -> web.Response:
    provider = request.app[PROVIDER_KEY]
    try:
        alerts, sources, silences, (ready, reasons), dead_letters = await asyncio.gather(
            provider.alerts(),
            provider.sources(),
            provider.silences(),
            provider.ready(),
            provider.dead_letters(),
        )
    except Exception as exc:
        return _unavailable("status", exc)
    summary = summarize(alerts, sources, silences, dead_letters)
    return _json(
        {
            "generated_at": request.app[CLOCK_KEY].now().isoformat(),
            "status": summary.status,
            "ready": {"ready": ready, "reasons": list(reasons)},
            "summary": to_json(summary),
            "alerts": to_json(alerts),
            "sources": to_json(sources),
            "silences": to_json(silences),
            "dead_letters": to_json(dead_letters),
        }
    )


# --------------------------------------------------------------------------- probes


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    try:
        ready, reasons = await request.app[PROVIDER_KEY].ready()
    except Exception as exc:
        log.error("readiness unknown", error=redact(str(exc)), error_type=type(exc).__name__)
        ready, reasons = False, ["the monitor's state could not be read"]
    if ready:
        return web.Response(text="ready\n")
    if not request.get(AUTHORIZED_KEY, True):
        return web.Response(status=503, text="not ready\n")
    lines = "".join(f"- {redact(r)}\n" for r in reasons) or "- no reason given\n"
    return web.Response(status=503, text="not ready\n" + lines)
