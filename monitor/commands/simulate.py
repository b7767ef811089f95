"""``compliance-monitor simulate KIND``: serve the simulated API of a source kind."""

from __future__ import annotations

import argparse
import asyncio

from monitor.errors import ConfigError
from monitor.sources import registry
from monitor.sources.base import SimulatorOptions


def parse_fault(text: str) -> tuple[str, float, str]:
    """``KIND[:PROBABILITY[:PATH_REGEX]]`` -> (kind, probability, path regex)."""
    kind, _, rest = text.partition(":")
    prob_text, _, path = rest.partition(":")
    try:
        probability = float(prob_text) if prob_text else 1.0
    except ValueError:
        raise ConfigError("--fault", text, "probability must be a number from 0 to 1") from None
    if not 0.0 <= probability <= 1.0:
        raise ConfigError("--fault", text, "probability must be a number from 0 to 1")
    return kind, probability, path or ".*"


async def run(args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Serve the simulator of the source kind ``args.vendor`` until ``stop`` is set."""
    faults = [parse_fault(f) for f in args.fault]
    rival = getattr(args, "rival_rate", 0.0)
    if not 0.0 <= rival <= 1e9:
        raise ConfigError("--rival-rate", str(rival), "must be a number of requests per hour >= 0")
    options = SimulatorOptions(
        host=args.host,
        port=args.port,
        devices=args.devices,
        seed=args.seed,
        token=args.token,
        organization=args.organization,
        latency_ms=args.latency_ms,
        per_second=args.per_second or None,
        per_hour=args.per_hour or None,
        evolve_every=args.evolve_every or None,
        rival_per_hour=rival,
    )
    starting = registry.get(args.vendor).simulator(options)
    if starting is None:
        raise ConfigError("simulate", args.vendor, "this source kind has no simulator")
    served = await starting
    try:
        for kind, probability, path in faults:
            try:
                served.add_fault(path, kind, probability=probability)
            except ValueError as exc:
                raise ConfigError("--fault", kind, str(exc)) from None
        print(
            f"simulated {served.what} with {args.devices} devices at {served.base_url}",
            flush=True,
        )
        await stop.wait()
    finally:
        await served.stop()
    return 0
