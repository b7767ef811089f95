"""One simulated Kandji (Iru) tenant: its fleet, its token, and the HTTP knobs.

:class:`KandjiSimulator` holds what the routes (:mod:`.devices`, :mod:`.app`) answer
from and how: the :class:`~.fleet.Fleet`, the token and the routes it is denied, the
blueprints ``GET /blueprints`` leaves out, background evolution and the demo plan. Rate
limits, faults, latency and the request log come from
:class:`~monitor.simulator.http.HttpSimulator`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Final, Unpack

import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.simulator.auth import presented_token, token_matches
from monitor.simulator.http import HttpSimulator, SimulatorKnobs, route_template
from monitor.simulator.kandji.cursors import Snapshots
from monitor.simulator.kandji.fleet import Fleet
from monitor.simulator.kandji.model import DemoPlan
from monitor.simulator.kandji.paging import int_param

if TYPE_CHECKING:
    from monitor.simulator.kandji.prism import PrismSnapshot

log = structlog.get_logger(__name__)


class KandjiSimulator(HttpSimulator):
    """One simulated tenant: its fleet, its token and the HTTP knobs.

    ``denied_routes`` holds route templates (``"/api/v1/devices/{device_id}/apps"``) the
    token is not granted; they answer ``403``. ``unlisted_blueprints`` holds blueprint
    ids ``GET /blueprints`` leaves out (their devices still name them). ``evolve_every``
    (seconds) makes the app advance the fleet in the background on the fleet's clock.
    ``demo`` breaks one custom script on a few Macs at start-up and repairs it
    ``demo_repair_after`` seconds later. The HTTP knobs are
    :class:`~monitor.simulator.http.SimulatorKnobs` (a burst limit of 50 a second and 10,000
    requests an hour unless told otherwise).
    """

    vendor = "kandji"

    def __init__(
        self,
        fleet: Fleet,
        *,
        token: str | SecretStr,
        demo: bool = False,
        demo_devices: int = 3,
        demo_repair_after: float = 90.0,
        **knobs: Unpack[SimulatorKnobs],
    ) -> None:
        super().__init__(clock=fleet.clock, token=token, **knobs)
        self.fleet = fleet
        self.denied_routes: set[str] = set()
        # Blueprint ids GET /blueprints leaves out, as for a blueprint the token cannot
        # see: its devices still name it, and its own routes still answer.
        self.unlisted_blueprints: set[str] = set()
        self.demo = demo
        self.demo_devices = demo_devices
        self.demo_repair_after = demo_repair_after
        self.demo_plan: DemoPlan | None = None
        self.prism_snapshots: Snapshots[PrismSnapshot] = Snapshots()
        self._shift_rng = random.Random(f"shift:{self.seed}")

    def __repr__(self) -> str:
        return f"KandjiSimulator(devices={self.fleet.device_count}, token=**********)"

    def shift_records(self, request: web.Request) -> str | None:
        """Remove one live device listed before the request's ``offset`` and enrol a new
        one of the same platform, so every later ``offset`` page starts one device on.

        A reader paging ``GET /devices`` with plain offsets then skips one device: the
        one that moved onto the page it has already read. Returns what changed.
        """
        fleet = self.fleet
        live = fleet.device_indices()
        if not live:
            return None
        offset = int_param(request, "offset") or 0
        position = self._shift_rng.randrange(max(1, min(offset, len(live))))
        gone = fleet.device(live[position])
        fleet.remove_device(gone.id)
        added = fleet.add_device(gone.platform)
        log.info(
            "simulator.kandji.shifted", removed=gone.id, added=added, position=position
        )
        return f"removed {gone.id}, added {added}"

    async def authenticate(self, request: web.Request) -> web.StreamResponse | None:
        """401 without a valid bearer token, 403 for a denied route, else None."""
        presented = presented_token(request)
        if presented is None:
            return web.json_response(
                {"detail": "Authentication credentials were not provided."},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        if not token_matches(presented, self.token):
            return web.json_response(
                {"detail": "Invalid token."},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        route = route_template(request)
        if route in self.denied_routes:
            return web.json_response(
                {"detail": "You do not have permission to perform this action."}, status=403
            )
        self.fleet.apply_due()
        return None

    def advance(self, seconds: float) -> dict[str, int]:
        """Move the fleet on; how many statuses changed, how many to a failure."""
        changes = self.fleet.advance(seconds)
        return {
            "changes": len(changes),
            "failed": sum(1 for c in changes if c.new in ("ERROR", "failed", "WARNING")),
            "devices": self.fleet.device_count,
        }


SIM_KEY: Final = web.AppKey("kandji_simulator", KandjiSimulator)
"""Where the app keeps its :class:`KandjiSimulator` (``app[SIM_KEY]``)."""


def sim_of(request: web.Request) -> KandjiSimulator:
    """The simulator answering ``request``."""
    return request.app[SIM_KEY]
