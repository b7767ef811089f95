"""What every vendor's typed client shares (:class:`VendorClient`)."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from monitor.sources.budget import RequestBudget
from monitor.sources.http import ApiClient, RequestStats


class VendorClient:
    """What every vendor's typed client shares: its :class:`ApiClient` (``api``, set by the
    vendor's ``__init__``), the tenant's budget, the request counters, and closing."""

    api: ApiClient

    @property
    def budget(self) -> RequestBudget:
        """The tenant's request budget."""
        return self.api.budget

    @property
    def stats(self) -> RequestStats:
        """Counters of the requests this client sent."""
        return self.api.stats

    @property
    def requests_made(self) -> int:
        """HTTP attempts this client sent (retries included)."""
        return self.api.stats.requests

    async def close(self) -> None:
        """Close the HTTP session (when this client created it)."""
        await self.api.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


__all__ = ["VendorClient"]
