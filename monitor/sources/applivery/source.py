"""Applivery as a :class:`~monitor.sources.base.Source` plugin (Windows PCs).

What the rest of the monitor knows of Applivery goes through :data:`SOURCE`: the client
and sweeper, the field catalogue, console links, the ``explain`` look-up, the selective
info refresh action and the simulator behind ``simulate`` and ``demo``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import quote

from monitor.clock import Clock
from monitor.settings import SourceBase
from monitor.sources.applivery.config import KIND, AppliverySourceConfig
from monitor.sources.applivery.fields import FIELDS
from monitor.sources.base import (
    BuildContext,
    DemoTenant,
    DeviceLookup,
    RunningSimulator,
    ServedSimulator,
    SimulatorOptions,
    Source,
    SourceParts,
    client_options,
)
from monitor.sources.plugin import VendorSource

if TYPE_CHECKING:
    from monitor.actions.base import Executor

DASHBOARD = "https://dashboard.applivery.io"


class AppliverySource(VendorSource[AppliverySourceConfig]):
    """The Applivery plugin (see the module docstring).

    It reports no subject statuses of its own: every one is taken as is. Applivery
    documents no address for a device's page (its API notes give no dashboard URL at
    all; its fastlane plugin documents only workspace pages,
    ``https://dashboard.applivery.io/<workspace-slug>/apps/...``): links open the
    workspace, marked as such; a ``{device_id}`` template in ``console_url`` gives the
    exact page where an administrator knows it.
    """

    def build(self, config: SourceBase, **context: Unpack[BuildContext]) -> SourceParts:
        """An :class:`AppliveryClient` and its sweeper."""
        from monitor.sources.applivery.client import AppliveryClient
        from monitor.sources.applivery.sweeper import AppliverySweeper

        src = self.checked(config)
        client = AppliveryClient(src, clock=context["clock"], **client_options(context))
        return SourceParts(client, AppliverySweeper(client, src.name))

    def tenant(self, config: SourceBase) -> tuple[str, ...]:
        """A tenant is its API URL and organization."""
        return (config.url, self.checked(config).organization)

    def default_console_url(self, config: AppliverySourceConfig) -> str | None:
        """The workspace's dashboard, ``https://dashboard.applivery.io/<organization>``
        (right when ``organization`` is the workspace slug, as the dashboard's addresses
        use the slug)."""
        organization = config.organization
        return f"{DASHBOARD}/{quote(organization, safe='')}" if organization else None

    def lookup(self, config: SourceBase, clock: Clock, *, budget_max_wait: float) -> DeviceLookup:
        """The device list is all there is to read."""
        from monitor.sources.applivery.explain import AppliveryLookup

        return AppliveryLookup(self.checked(config), clock, budget_max_wait=budget_max_wait)

    def executors(self) -> Sequence[Executor]:
        """``applivery.refresh_info``."""
        from monitor.sources.applivery.actions import AppliveryRefreshInfo

        return (AppliveryRefreshInfo(),)

    def simulator(self, options: SimulatorOptions) -> Awaitable[RunningSimulator] | None:
        """A simulated organization (:mod:`monitor.simulator.applivery`)."""
        return _simulate(options)

    def demo(
        self, *, devices: int, seed: int, token: str, repair_after: float
    ) -> Awaitable[DemoTenant] | None:
        """An organization of a third as many Windows PCs, two of them out of compliance."""
        return _demo(max(4, devices // 3), seed, token)


async def _demo(devices: int, seed: int, token: str) -> DemoTenant:
    from monitor.simulator.applivery import start_applivery

    runner, base_url, sim = await start_applivery(
        devices=devices, seed=seed, token=token, organization="demo-org"
    )
    # Two Windows PCs out of compliance, so the demo shows both systems at once.
    reporting = [
        d
        for d in sim.fleet.devices
        if d.state == "ACTIVE" and not d.silent and d.compliant is not False
    ]
    for d in reporting[:2]:
        sim.fleet.set_compliance(d.id, False)
    entry: dict[str, Any] = {
        "name": "demo-applivery",
        "kind": KIND,
        "url": base_url,
        "organization": "demo-org",
        "interval": "4s",
        "budget": {"requests_per_hour": 5000, "burst_per_second": 20, "concurrency": 4},
    }
    served = ServedSimulator(base_url, "Applivery organization 'demo-org'", sim, runner)
    return DemoTenant(entry, served)


async def _simulate(options: SimulatorOptions) -> RunningSimulator:
    from monitor.simulator.applivery import start_applivery

    runner, base_url, sim = await start_applivery(
        options.host, options.port, organization=options.organization,
        **options.start_options(),
    )
    return ServedSimulator(
        base_url, f"Applivery organization {options.organization!r}", sim, runner
    )


SOURCE: Source = AppliverySource(KIND, AppliverySourceConfig, FIELDS)
"""The plugin the registry loads."""

__all__ = ["DASHBOARD", "SOURCE", "AppliverySource"]
