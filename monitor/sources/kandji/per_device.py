"""The per-device sweep of a Kandji tenant: list devices, then per device what rules need.

This is the straightforward strategy (about one request per device and fact kind). It
is the reference the planned sweep is checked against, and the fallback when a tenant's
token lacks the fleet-wide endpoints.
"""

from __future__ import annotations

import asyncio

from monitor.errors import NotFoundError, SourceError, is_auth_error
from monitor.models import Coverage, FactKind
from monitor.sources.base import SweepOutcome, SweepProgress
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.mapping import to_device
from monitor.sources.kandji.reads import read_device


class KandjiPerDeviceSweeper:
    """Sweeps a Kandji tenant with one status call per device (plus details/apps if needed)."""

    def __init__(self, client: KandjiClient, source: str) -> None:
        self.client = client
        self.source = source
        self.progress: SweepProgress | None = None

    async def close(self) -> None:
        await self.client.close()

    async def sweep(self, needs: frozenset[FactKind]) -> SweepOutcome:
        """List every device, then fetch per device the fact kinds in ``needs``."""
        start_requests = self.client.requests_made
        out = SweepOutcome(source=self.source, coverage=Coverage(source=self.source))
        try:
            raw_devices = await self.client.list_devices()
        except SourceError as exc:
            out.ok = False
            out.auth_failed = is_auth_error(exc)
            out.errors.append(f"list devices: {exc}")
            out.requests = self.client.requests_made - start_requests
            return out
        device_ids = [d.device_id for d in raw_devices if d.device_id]
        progress = self.progress
        if progress is not None:
            progress.work_planned(self.source, len(raw_devices))
        kinds = {k for k in needs if k is not FactKind.DEVICE}
        observed: dict[FactKind, set[str]] = {k: set() for k in kinds}

        async def one(raw_index: int) -> None:
            raw = raw_devices[raw_index]
            did = raw.device_id
            try:
                read = await read_device(self.client, did, raw.platform, kinds)
            except NotFoundError:
                # Removed while we were sweeping: nothing observed for it, nothing resolved.
                read = None
            finally:
                if progress is not None:
                    progress.work_done(self.source)
            if read is None:
                out.devices[did] = to_device(self.source, raw)
                return
            for kind in read.observed:
                observed[kind].add(did)
            for _, exc in read.errors:
                out.ok = False
                out.errors.append(f"device {did}: {exc}")
            out.devices[did] = to_device(self.source, raw, read.details)
            if read.subjects:
                out.subjects[did] = read.subjects

        await asyncio.gather(*(one(i) for i in range(len(raw_devices))))
        complete = frozenset(k for k in kinds if observed[k] >= set(device_ids))
        out.coverage = Coverage(
            source=self.source,
            devices=frozenset(device_ids),
            device_list_complete=True,
            complete_kinds=complete | {FactKind.DEVICE},
            partial={k: frozenset(v) for k, v in observed.items() if k not in complete},
        )
        out.requests = self.client.requests_made - start_requests
        return out


__all__ = ["KandjiPerDeviceSweeper"]
