"""What every vendor's typed client shares (:class:`VendorClient`).

A vendor's client is built from its source config and the :class:`ClientOptions`; it
holds the vendor's :class:`~monitor.sources.http.ApiClient` subclass as ``api`` (the
class named by ``api_class``), and turns raw JSON into the vendor's pydantic models
with :meth:`VendorClient.parse`: an answer that does not fit the model is a
:class:`~monitor.errors.MalformedResponseError` naming the first field that did not
fit, never a half-read record.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, Unpack

from pydantic import BaseModel, ValidationError

from monitor.clock import Clock
from monitor.errors import MalformedResponseError
from monitor.settings import SourceBase
from monitor.sources.budget import RequestBudget
from monitor.sources.http import ApiClient, ClientOptions
from monitor.sources.transport import Closing, RequestStats

M = TypeVar("M", bound=BaseModel)
A = TypeVar("A", bound=ApiClient)
C = TypeVar("C", bound=SourceBase)


class VendorClient(Closing, Generic[C, A]):
    """What every vendor's typed client shares: its config, its :class:`ApiClient`
    (``api``, of the vendor's ``api_class``), the tenant's budget, the request
    counters, model parsing, and closing."""

    api_class: type[A]

    def __init__(self, config: C, *, clock: Clock, **options: Unpack[ClientOptions]) -> None:
        self.config = config
        self.name = config.name
        self.api: A = self.api_class.from_config(config, clock=clock, **options)

    def __repr__(self) -> str:
        # The name and URL only: a client's repr never shows its token.
        return f"{type(self).__name__}(name={self.name!r}, url={self.config.url!r})"

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

    def malformed(self, endpoint: str, what: str) -> MalformedResponseError:
        """The error for an answer of ``endpoint`` that is unusable because of ``what``."""
        return self.api.malformed(endpoint, what)

    def parse(self, model: type[M], body: Any, endpoint: str, *, what: str = "an object") -> M:
        """``body`` as ``model``; MalformedResponseError when it is not ``what`` (a JSON
        object) or a field does not fit (the first one is named)."""
        if not isinstance(body, dict):
            raise self.malformed(endpoint, f"expected {what}, got {type(body).__name__}")
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(body)"
            raise self.malformed(endpoint, f"{where}: {first['msg']}") from exc

    def parse_rows(self, model: type[M], rows: list[Any], endpoint: str) -> list[M]:
        """Every row as ``model``; a row that is not an object makes the page unusable
        (dropping it would make whatever it described look absent)."""
        return [self.parse(model, row, endpoint) for row in rows]


__all__ = ["ClientOptions", "VendorClient"]
