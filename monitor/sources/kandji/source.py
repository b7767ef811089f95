"""Kandji (Iru) as a :class:`~monitor.sources.base.Source` plugin.

What the rest of the monitor knows of Kandji goes through :data:`SOURCE`: the client
and sweeper (``planned`` by default, ``per_device`` on request), the field catalogue,
which statuses the API documents, console links, the ``explain`` look-up, the actions,
and the simulator behind ``simulate`` and ``demo``. Heavy parts are imported when
first used, so loading the registry (the config does) stays light.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import quote, urlsplit

from monitor.clock import Clock
from monitor.models import SubjectKind
from monitor.settings import SourceBase
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
from monitor.sources.kandji.config import KIND, KandjiSourceConfig
from monitor.sources.kandji.fields import DETAILS_FIELDS, FIELDS
from monitor.sources.kandji.models import (
    is_known_library_item_status,
    is_known_parameter_status,
)
from monitor.sources.plugin import VendorSource

if TYPE_CHECKING:
    from monitor.actions.base import Executor

# Kandji API hosts are SUBDOMAIN.api.kandji.io (US) and SUBDOMAIN.api.eu.kandji.io (EU);
# the web app of the same tenant drops the "api." label.
_API_HOST = re.compile(r"^(?P<sub>[A-Za-z0-9-]+)\.api\.(?P<region>eu\.)?kandji\.io$")


class KandjiSource(VendorSource[KandjiSourceConfig]):
    """The Kandji plugin (see the module docstring)."""

    def build(self, config: SourceBase, **context: Unpack[BuildContext]) -> SourceParts:
        """A :class:`KandjiClient` and the sweeper its ``strategy`` names."""
        from monitor.sources.kandji.client import KandjiClient
        from monitor.sources.kandji.per_device import KandjiPerDeviceSweeper
        from monitor.sources.kandji.planned import KandjiPlannedSweeper
        from monitor.sources.kandji.prism_facts import prism_fields_for

        src = self.checked(config)
        client = KandjiClient(src, clock=context["clock"], **client_options(context))
        if src.strategy == "per_device":
            return SourceParts(client, KandjiPerDeviceSweeper(client, src.name))
        rules = context["rules"]
        knobs = src.planner
        options: dict[str, Any] = {
            "rediscover_every": knobs.rediscover_every.total_seconds(),
            "interval": src.interval.total_seconds() if knobs.paced else None,
            "per_device_share": knobs.per_device_share,
            "parameters_every": knobs.parameters_every.total_seconds(),
            "min_interval": knobs.min_interval.total_seconds(),
        }
        if rules is None:
            return SourceParts(client, KandjiPlannedSweeper(client, src.name, **options))
        # Keep only the subjects an enabled rule could match (the engine's status/type
        # index): findings are the same, memory is a small fraction.
        plans = {plan.kind: plan for plan in rules.plan(self.kind)}

        def may_match(kind: SubjectKind, status: str, type_: str) -> bool:
            if not self.status_is_known(kind, status):
                return True  # kept so that its alerts are held, not resolved
            plan = plans.get(kind)
            return plan is not None and bool(plan.candidates(status, type_))

        # Details through Prism when it serves every details field the rules read.
        details = (f.name for f in DETAILS_FIELDS)
        options["prism_fields"] = prism_fields_for(rules, self.kind, details)
        sweeper = KandjiPlannedSweeper(client, src.name, keep=may_match, **options)
        return SourceParts(client, sweeper)

    def status_is_known(self, kind: SubjectKind, status: str) -> bool:
        """Whether Kandji documents ``status`` for library items and parameters."""
        if kind is SubjectKind.LIBRARY_ITEM:
            return is_known_library_item_status(status)
        if kind is SubjectKind.PARAMETER:
            return is_known_parameter_status(status)
        return True

    def default_console_url(self, config: KandjiSourceConfig) -> str | None:
        """``https://acme.api.kandji.io`` -> ``https://acme.kandji.io`` (EU likewise);
        None for any other host (a simulator on loopback)."""
        host = urlsplit(config.url).hostname or ""
        m = _API_HOST.match(host)
        if m is None:
            return None
        return f"https://{m['sub']}.{m['region'] or ''}kandji.io"

    def device_link(self, console_url: str, device_id: str) -> str:
        """Kandji's device page: ``{console_url}/devices/{device_id}``."""
        return f"{console_url.rstrip('/')}/devices/{quote(device_id, safe='')}"

    def lookup(self, config: SourceBase, clock: Clock, *, budget_max_wait: float) -> DeviceLookup:
        """The per-device reads plus the activity feed."""
        from monitor.sources.kandji.explain import KandjiLookup

        return KandjiLookup(self.checked(config), clock, budget_max_wait=budget_max_wait)

    def executors(self) -> Sequence[Executor]:
        """``kandji.tag``, ``kandji.update_inventory``, ``kandji.cancel_lost_mode``."""
        from monitor.sources.kandji.actions import (
            KandjiCancelLostMode,
            KandjiTag,
            KandjiUpdateInventory,
        )

        return (KandjiTag(), KandjiUpdateInventory(), KandjiCancelLostMode())

    def simulator(self, options: SimulatorOptions) -> Awaitable[RunningSimulator] | None:
        """A simulated tenant (:mod:`monitor.simulator.kandji`)."""
        return _simulate(options)

    def demo(
        self, *, devices: int, seed: int, token: str, repair_after: float
    ) -> Awaitable[DemoTenant] | None:
        """A tenant of ``devices`` Macs and iPhones with planted failures, repaired after
        ``repair_after`` seconds."""
        return _demo(devices, seed, token, repair_after)


async def _demo(devices: int, seed: int, token: str, repair_after: float) -> DemoTenant:
    from monitor.simulator.kandji import start_kandji

    runner, base_url, sim = await start_kandji(
        devices=devices, seed=seed, token=token, evolve_every=None,
        demo=True, demo_repair_after=repair_after,
    )
    entry: dict[str, Any] = {
        "name": "demo-kandji",
        "kind": KIND,
        "url": base_url,
        "interval": "4s",
        "budget": {"requests_per_hour": 5000, "burst_per_second": 40, "concurrency": 8},
        # A sweep every 4 seconds to show alerts quickly: not a pace an hour could
        # sustain, so the demo's sweeps are not paced (a demo lasts minutes).
        "planner": {"paced": False},
        "console_url": "https://demo.kandji.io",
    }
    return DemoTenant(entry, ServedSimulator(base_url, "Kandji tenant", sim, runner))


async def _simulate(options: SimulatorOptions) -> RunningSimulator:
    from monitor.simulator.kandji import start_kandji

    runner, base_url, sim = await start_kandji(
        options.host, options.port, rival_per_hour=options.rival_per_hour,
        **options.start_options(),
    )
    return ServedSimulator(base_url, "Kandji tenant", sim, runner)


SOURCE: Source = KandjiSource(KIND, KandjiSourceConfig, FIELDS)
"""The plugin the registry loads."""

__all__ = ["SOURCE", "KandjiSource"]
