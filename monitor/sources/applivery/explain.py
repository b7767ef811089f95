"""The ``explain`` look-up in an Applivery organization (everything comes with the list)."""

from __future__ import annotations

from monitor.clock import Clock
from monitor.models import Device, FactKind
from monitor.sources.applivery.client import AppliveryClient
from monitor.sources.applivery.config import SOURCE_KIND, AppliverySourceConfig
from monitor.sources.applivery.mapping import to_device
from monitor.sources.base import DeviceFacts


class AppliveryLookup:
    """An Applivery organization: everything its rules read comes with the device list."""

    def __init__(
        self, src: AppliverySourceConfig, clock: Clock, *, budget_max_wait: float
    ) -> None:
        self.src = src
        self.client = AppliveryClient(
            src, clock=clock, token=src.resolve_token(), budget_max_wait=budget_max_wait
        )

    async def close(self) -> None:
        await self.client.close()

    async def devices(self) -> list[Device]:
        rows = await self.client.list_devices()
        return [to_device(self.src.name, d) for d in rows if d.id]

    async def facts(self, device: Device, needs: frozenset[FactKind]) -> DeviceFacts:
        return DeviceFacts(self.src.name, SOURCE_KIND, device)


__all__ = ["AppliveryLookup"]
