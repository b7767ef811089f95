"""A simulated Kandji (Iru) tenant: fleet model, bodies, HTTP app, server.

- :mod:`.catalog`: the tenant's fixed catalogue (hardware, OS builds, blueprints, items,
  parameters, apps, names);
- :mod:`.model`: :class:`FleetSpec` and the records a fleet hands out;
- :mod:`.fleet`: the seeded, compact, evolving fleet (:class:`Fleet`), built in layers:
  :mod:`.state` (stored state, derived devices), :mod:`.reads`, :mod:`.writes` (test
  hooks, PATCH, actions), :mod:`.admin` (blueprints and library items, as an
  administrator changes them) and :mod:`.seeding` (the initial draws);
- :mod:`.audit`: the audit feed the fleet's changes land in;
- :mod:`.prism` and :mod:`.prism_filter`: the Prism inventory tables and their filter;
  :mod:`.cursors`: opaque cursors;
- :mod:`.bodies` and :mod:`.details`: the JSON bodies, shaped like the documented
  examples;
- :mod:`.simulator`, :mod:`.paging`, :mod:`.devices`, :mod:`.app`: the aiohttp app
  (:func:`make_kandji_app`, :class:`KandjiSimulator`, ``SIM_KEY``);
- :mod:`.server`: :func:`start_kandji` and :func:`serve_kandji_forever`.
"""

from monitor.simulator.kandji.app import make_kandji_app
from monitor.simulator.kandji.fleet import Fleet
from monitor.simulator.kandji.model import (
    ITEM_STATUSES,
    PARAMETER_STATUSES,
    PROFILE_STATUSES,
    FieldError,
    FleetSpec,
    UnknownDeviceError,
)
from monitor.simulator.kandji.server import DEFAULT_TOKEN, serve_kandji_forever, start_kandji
from monitor.simulator.kandji.simulator import SIM_KEY, KandjiSimulator

__all__ = [
    "DEFAULT_TOKEN",
    "ITEM_STATUSES",
    "PARAMETER_STATUSES",
    "PROFILE_STATUSES",
    "SIM_KEY",
    "FieldError",
    "Fleet",
    "FleetSpec",
    "KandjiSimulator",
    "UnknownDeviceError",
    "make_kandji_app",
    "serve_kandji_forever",
    "start_kandji",
]
