"""``compliance-monitor simulate kandji|applivery``: serve a simulated MDM API."""

from __future__ import annotations

import argparse
import asyncio

from monitor.errors import ConfigError


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
    """Serve the simulator named by ``args.vendor`` until ``stop`` is set."""
    faults = [parse_fault(f) for f in args.fault]
    if args.vendor == "kandji":
        from monitor.simulator.kandji import start_kandji

        runner, base_url, sim = await start_kandji(
            args.host,
            args.port,
            devices=args.devices,
            seed=args.seed,
            token=args.token,
            latency_ms=args.latency_ms,
            per_second=args.per_second or None,
            per_hour=args.per_hour or None,
            evolve_every=args.evolve_every or None,
        )
        what = "Kandji tenant"
    else:
        from monitor.simulator.applivery import start_applivery

        runner, base_url, sim = await start_applivery(  # type: ignore[assignment]
            args.host,
            args.port,
            devices=args.devices,
            seed=args.seed,
            token=args.token,
            organization=args.organization,
            latency_ms=args.latency_ms,
            per_second=args.per_second or None,
            per_hour=args.per_hour or None,
            evolve_every=args.evolve_every or None,
        )
        what = f"Applivery organization {args.organization!r}"
    try:
        for kind, probability, path in faults:
            try:
                sim.add_fault(path, kind, probability=probability)
            except ValueError as exc:
                raise ConfigError("--fault", kind, str(exc)) from None
        print(f"simulated {what} with {args.devices} devices at {base_url}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
