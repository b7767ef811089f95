"""A simulated Applivery organization (Windows PCs): fleet, HTTP app, server.

- :mod:`.fleet`: the seeded, evolving fleet (:class:`AppliveryFleet`);
- :mod:`.bodies`: the device body and the envelopes;
- :mod:`.app`: the aiohttp app (:func:`make_applivery_app`, :class:`AppliverySimulator`);
- :mod:`.server`: :func:`start_applivery` and :func:`serve_applivery_forever`.
"""

from monitor.simulator.applivery.app import (
    APPLIVERY_SIM_KEY,
    DEVICE,
    DEVICE_INFO,
    DEVICES,
    AppliverySimulator,
    make_applivery_app,
)
from monitor.simulator.applivery.bodies import device_body
from monitor.simulator.applivery.fleet import (
    DEFAULT_ORGANIZATION,
    INFO_CATEGORIES,
    STATES,
    AppliveryFleet,
    FleetChange,
    FleetRates,
    WinDevice,
)
from monitor.simulator.applivery.server import (
    DEFAULT_TOKEN,
    serve_applivery_forever,
    start_applivery,
)

__all__ = [
    "APPLIVERY_SIM_KEY",
    "DEFAULT_ORGANIZATION",
    "DEFAULT_TOKEN",
    "DEVICE",
    "DEVICES",
    "DEVICE_INFO",
    "INFO_CATEGORIES",
    "STATES",
    "AppliveryFleet",
    "AppliverySimulator",
    "FleetChange",
    "FleetRates",
    "WinDevice",
    "device_body",
    "make_applivery_app",
    "serve_applivery_forever",
    "start_applivery",
]
