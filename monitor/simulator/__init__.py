"""Simulated MDM tenants for the demo, the tests and the benchmarks.

One package per vendor, each with its fleet model, its JSON bodies, its aiohttp app and
its ``start_*``/``serve_*_forever``:

- :mod:`monitor.simulator.kandji`: a Kandji (Iru) tenant (Macs, iPhones, iPads, Apple
  TVs);
- :mod:`monitor.simulator.applivery`: an Applivery organization (Windows PCs).

Parts every simulated API shares:

- :mod:`monitor.simulator.http`: the request log and the middleware chain
  (:class:`~monitor.simulator.http.HttpSimulator`);
- :mod:`monitor.simulator.auth`: the bearer-token check;
- :mod:`monitor.simulator.limits`: the request windows and Kong rate-limit headers;
- :mod:`monitor.simulator.faults`: fault rules and body mutations;
- :mod:`monitor.simulator.evolution`: the background task that advances a fleet;
- :mod:`monitor.simulator.server`: serving an app on a real socket;
- :mod:`monitor.simulator.lookup`: look-ups that must find something.

Nothing is imported here.
"""
