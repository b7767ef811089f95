"""The seam between the web layer and the running daemon.

The web layer asks a :class:`StatusProvider` for views and knows nothing else of the
daemon. The composition root implements it over the store and the sources' health;
tests and the demo use :class:`StaticStatusProvider`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from monitor.sources.links import DEVICE_ID_PLACEHOLDER, device_console_link, device_link
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

    async def trend(self) -> list[tuple[date, int]]:
        """Firing alerts per day over the last 30 days, oldest first."""
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
        trend: Sequence[tuple[date, int]] = (),
    ) -> None:
        self.alert_views = list(alerts)
        self.source_views = list(sources)
        self.silence_views = list(silences)
        self.is_ready = ready
        self.reasons = list(reasons)
        self.dead_letter_views = list(dead_letters)
        self.trend_days = list(trend)

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

    async def trend(self) -> list[tuple[date, int]]:
        """The configured trend."""
        return list(self.trend_days)


__all__ = [
    "DEVICE_ID_PLACEHOLDER",
    "StaticStatusProvider",
    "StatusProvider",
    "device_console_link",
    "device_link",
]
