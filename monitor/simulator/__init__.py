"""Simulated MDM tenants for the demo, the tests and the benchmarks.

Kandji (Iru):

- :mod:`monitor.simulator.fleet`: the seeded, compact, evolving fleet model
  (:class:`~monitor.simulator.fleet.Fleet`, :class:`~monitor.simulator.fleet.FleetSpec`)
  and its test hooks (``set_item_status``, ``check_in``, ``go_silent``, ``add_device``...);
- :mod:`monitor.simulator.kandji`: the aiohttp app (``make_kandji_app``,
  ``KandjiSimulator``, ``SIM_KEY``) with bodies from :mod:`monitor.simulator.kandji_bodies`;
- :mod:`monitor.simulator.server`: ``start_kandji`` and ``serve_kandji_forever``;
- :mod:`monitor.simulator.common`: request log, rate limits, fault rules and latency,
  shared by every simulated API.

Nothing is imported here, so reading the fleet model does not load aiohttp.
"""
