"""The Acme source: config model, client, mapping, sweeper, field catalogue and plugin.

One module, as a small vendor can be; a larger one splits these into ``config.py``,
``client.py``, ``mapping.py``, ``sweeper.py``, ``fields.py`` and ``source.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from monitor.clock import Clock
from monitor.errors import MalformedResponseError, SourceError
from monitor.models import Coverage, Device, FactKind, SourceKind, SubjectKind
from monitor.settings import SourceBase
from monitor.sources.base import (
    DemoTenant,
    DeviceFacts,
    DeviceLookup,
    RequestHook,
    RunningSimulator,
    SimulatorOptions,
    Source,
    SourceParts,
    SweepOutcome,
    SweepProgress,
)
from monitor.sources.budget import RequestBudget
from monitor.sources.catalogue import FieldCatalogue, ValueType, declare
from monitor.sources.http import ApiClient
from monitor.sources.lenient import parse_bool, parse_timestamp

if TYPE_CHECKING:
    from monitor.actions.base import Executor
    from monitor.engine import RuleSet

KIND = "acme"
MACHINES = "/v2/machines"


class AcmeSourceConfig(SourceBase):
    """An Acme tenant."""

    kind: Literal["acme"]


FIELDS: FieldCatalogue = {
    SubjectKind.DEVICE: declare(
        FactKind.DEVICE, ("disk.encrypted", ValueType.BOOL, "machines[].encrypted")
    ),
}


def check_machines(endpoint: str, body: Any) -> None:
    """A machine page must hold a ``machines`` list of objects with an ``id``."""
    rows = body.get("machines") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and r.get("id") for r in rows):
        raise MalformedResponseError(f"{endpoint}: no machines list", endpoint=endpoint)


def to_device(source: str, row: dict[str, Any]) -> Device:
    """An Acme machine as a :class:`Device`."""
    attrs: dict[str, Any] = {}
    encrypted = parse_bool(row.get("encrypted"))
    if encrypted is not None:
        attrs["disk.encrypted"] = encrypted
    return Device(
        source=source,
        source_kind=SourceKind(KIND),
        device_id=str(row["id"]),
        name=str(row.get("hostname") or ""),
        serial=str(row.get("serial") or ""),
        platform=str(row.get("os") or ""),
        last_check_in=parse_timestamp(row.get("seen")),
        attrs=attrs,
    )


class AcmeClient:
    """Typed access to one Acme tenant, through the shared HTTP seam."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    async def machines(self) -> list[dict[str, Any]]:
        """Every machine, page by page (an unusable page is asked again by the seam)."""
        rows: list[dict[str, Any]] = []
        page: int | None = 0
        while page is not None:
            body = await self.api.request(
                "GET", MACHINES, params={"page": page}, validate=check_machines
            )
            rows.extend(body["machines"])
            nxt = body.get("next")
            page = nxt if isinstance(nxt, int) and nxt > page else None
        return rows


class AcmeSweeper:
    """Sweeps one Acme tenant: the machine list is every fact there is."""

    def __init__(self, client: AcmeClient, source: str) -> None:
        self.client = client
        self.source = source
        self.progress: SweepProgress | None = None

    async def sweep(self, needs: frozenset[FactKind]) -> SweepOutcome:
        out = SweepOutcome(source=self.source, coverage=Coverage(source=self.source))
        start = self.client.api.stats.requests
        try:
            rows = await self.client.machines()
        except SourceError as exc:
            out.ok = False
            out.errors.append(f"list machines: {exc}")
            return out
        finally:
            out.requests = self.client.api.stats.requests - start
        out.devices = {str(r["id"]): to_device(self.source, r) for r in rows}
        out.coverage = Coverage(
            source=self.source,
            devices=frozenset(out.devices),
            device_list_complete=True,
            complete_kinds=frozenset({FactKind.DEVICE}),
        )
        return out

    async def close(self) -> None:
        await self.client.api.close()


class AcmeLookup:
    """``explain`` in an Acme tenant: the list is all there is."""

    def __init__(self, src: AcmeSourceConfig, client: AcmeClient) -> None:
        self.src = src
        self.client = client

    async def devices(self) -> list[Device]:
        return [to_device(self.src.name, r) for r in await self.client.machines()]

    async def facts(self, device: Device, needs: frozenset[FactKind]) -> DeviceFacts:
        return DeviceFacts(self.src.name, SourceKind(KIND), device)

    async def close(self) -> None:
        await self.client.api.close()


class AcmeSource:
    """The Acme plugin."""

    kind = KIND
    config_model = AcmeSourceConfig
    fields: FieldCatalogue = FIELDS

    def _client(self, config: SourceBase, clock: Clock, **kwargs: Any) -> AcmeClient:
        return AcmeClient(ApiClient.from_config(config, clock=clock, **kwargs))

    def build(
        self,
        config: SourceBase,
        *,
        clock: Clock,
        token: SecretStr,
        budget: RequestBudget,
        on_request: RequestHook | None,
        rules: RuleSet | None,
    ) -> SourceParts:
        client = self._client(config, clock, token=token, budget=budget, on_request=on_request)
        return SourceParts(client, AcmeSweeper(client, config.name))

    def tenant(self, config: SourceBase) -> tuple[str, ...]:
        return (config.url,)

    def status_is_known(self, kind: SubjectKind, status: str) -> bool:
        return True

    def console_url(self, config: SourceBase) -> str | None:
        return config.console_url

    def device_link(self, console_url: str, device_id: str) -> str:
        return f"{console_url.rstrip('/')}/machines/{device_id}"

    def lookup(self, config: SourceBase, clock: Clock, *, budget_max_wait: float) -> DeviceLookup:
        assert isinstance(config, AcmeSourceConfig)
        return AcmeLookup(config, self._client(config, clock, budget_max_wait=budget_max_wait))

    def executors(self) -> Sequence[Executor]:
        return ()

    def simulator(self, options: SimulatorOptions) -> Awaitable[RunningSimulator] | None:
        return None

    def demo(
        self, *, devices: int, seed: int, token: str, repair_after: float
    ) -> Awaitable[DemoTenant] | None:
        return None


SOURCE: Source = AcmeSource()
