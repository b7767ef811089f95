"""The seam between the web layer and the running daemon.

The web layer asks a :class:`StatusProvider` for views and knows nothing else of the
daemon. The composition root implements it over the store and the sources' health;
tests and the demo use :class:`StaticStatusProvider`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import quote, urlsplit

from monitor.models import SourceKind
from monitor.web.view import AlertView, DeadLetterView, SilenceView, SourceView


class StatusProvider(Protocol):
    """What the status page, the JSON API and /readyz read.

    Each call is made per request, so an implementation should answer from memory or
    with one cheap store query. Raising any exception makes the page answer 503 (the
    message is logged, never shown).
    """

    async def alerts(self) -> list[AlertView]:
        """Current alerts: firing, pending, silenced and recently resolved."""
        ...

    async def sources(self) -> list[SourceView]:
        """Every enabled source with its health and recent sweeps."""
        ...

    async def silences(self) -> list[SilenceView]:
        """Silences, active and upcoming (expired ones may be left out)."""
        ...

    async def dead_letters(self) -> list[DeadLetterView]:
        """Notifications given up on (newest first), until retried or pruned."""
        ...

    async def ready(self) -> tuple[bool, list[str]]:
        """(ready, reasons it is not): the store answers, every source swept recently."""
        ...


class StaticStatusProvider:
    """A :class:`StatusProvider` over fixed lists; change the attributes to change the answer."""

    def __init__(
        self,
        alerts: Sequence[AlertView] = (),
        sources: Sequence[SourceView] = (),
        silences: Sequence[SilenceView] = (),
        *,
        ready: bool = True,
        reasons: Sequence[str] = (),
        dead_letters: Sequence[DeadLetterView] = (),
    ) -> None:
        self.alert_views = list(alerts)
        self.source_views = list(sources)
        self.silence_views = list(silences)
        self.is_ready = ready
        self.reasons = list(reasons)
        self.dead_letter_views = list(dead_letters)

    async def alerts(self) -> list[AlertView]:
        """The configured alerts."""
        return list(self.alert_views)

    async def sources(self) -> list[SourceView]:
        """The configured sources."""
        return list(self.source_views)

    async def silences(self) -> list[SilenceView]:
        """The configured silences."""
        return list(self.silence_views)

    async def dead_letters(self) -> list[DeadLetterView]:
        """The configured dead letters."""
        return list(self.dead_letter_views)

    async def ready(self) -> tuple[bool, list[str]]:
        """The configured readiness and reasons."""
        return self.is_ready, list(self.reasons)


DEVICE_ID_PLACEHOLDER = "{device_id}"

# Kandji API hosts are SUBDOMAIN.api.kandji.io (US) and SUBDOMAIN.api.eu.kandji.io (EU);
# the web app of the same tenant drops the "api." label.
_KANDJI_API_HOST = re.compile(r"^(?P<sub>[A-Za-z0-9-]+)\.api\.(?P<region>eu\.)?kandji\.io$")

APPLIVERY_DASHBOARD = "https://dashboard.applivery.io"


def device_console_link(
    source_kind: SourceKind | str, console_url: str | None, device_id: str
) -> str | None:
    """The device's page in the MDM web console, or None when no console URL is known.

    ``console_url`` is the source's ``console_url`` setting. When it contains
    ``{device_id}`` it is a template and the (URL-quoted) id is put in its place; this
    works for every kind and is how an Applivery device page is configured, e.g.
    ``https://dashboard.applivery.io/my-workspace/mdm/devices/{device_id}``.

    Without a placeholder: Kandji's device page is ``{console_url}/devices/{device_id}``;
    for Applivery, whose device page address is not documented publicly, the link goes
    to ``console_url`` itself (the workspace dashboard) rather than to a guessed page.
    """
    if not console_url:
        return None
    quoted = quote(device_id, safe="")
    if DEVICE_ID_PLACEHOLDER in console_url:
        return console_url.replace(DEVICE_ID_PLACEHOLDER, quoted)
    base = console_url.rstrip("/")
    if SourceKind(source_kind) is SourceKind.KANDJI:
        return f"{base}/devices/{quoted}"
    return base


def default_console_url(
    source_kind: SourceKind | str, api_url: str, organization: str | None = None
) -> str | None:
    """A console URL derived from the API URL, for a source that does not configure one.

    Kandji: ``https://acme.api.kandji.io`` -> ``https://acme.kandji.io`` (EU likewise).
    Applivery: the workspace dashboard ``https://dashboard.applivery.io/{organization}``.
    None when nothing sensible can be derived (a simulator on loopback, an unknown host).
    """
    kind = SourceKind(source_kind)
    if kind is SourceKind.KANDJI:
        host = urlsplit(api_url).hostname or ""
        m = _KANDJI_API_HOST.match(host)
        if m is None:
            return None
        return f"https://{m['sub']}.{m['region'] or ''}kandji.io"
    if organization:
        return f"{APPLIVERY_DASHBOARD}/{quote(organization, safe='')}"
    return None
