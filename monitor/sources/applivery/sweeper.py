"""The sweep of an Applivery organization: one paginated scan of its Windows devices.

Everything the Applivery rules read (compliance verdict, last report, state, pending
refresh categories, sync errors, policy) comes with the device list, so a sweep costs
about ``devices / page_size`` requests whatever the rules ask for. Fact kinds other
than ``DEVICE`` are not available from Applivery and are never reported as observed,
so alerts on them are held rather than resolved.

A scan that fails part way still reports the devices it read: their device facts are
fresh (``Coverage.partial``), but the list is not complete, so no device is taken for
gone and no other alert is resolved.
"""

from __future__ import annotations

import structlog

from monitor.errors import SourceError, is_auth_error
from monitor.models import Coverage, FactKind
from monitor.sources.applivery.client import AppliveryClient
from monitor.sources.applivery.mapping import to_device
from monitor.sources.base import SweepOutcome, SweepProgress

log = structlog.get_logger(__name__)


class AppliverySweeper:
    """Sweeps one Applivery organization (implements :class:`~monitor.sources.base.Sweeper`).

    ``show_deleted`` also lists deleted devices (state ``DELETED``); off by default, so a
    deleted device leaves the list and its alerts end through the "gone" path.
    """

    def __init__(self, client: AppliveryClient, source: str, *, show_deleted: bool = False) -> None:
        self.client = client
        self.source = source
        self.show_deleted = show_deleted
        self.progress: SweepProgress | None = None

    def __repr__(self) -> str:
        return f"AppliverySweeper(source={self.source!r})"

    async def close(self) -> None:
        """Release the client's HTTP session."""
        await self.client.close()

    async def sweep(self, needs: frozenset[FactKind]) -> SweepOutcome:
        """Read every Windows device of the organization (``needs`` beyond DEVICE is moot)."""
        start = self.client.requests_made
        out = SweepOutcome(source=self.source, coverage=Coverage(source=self.source))
        complete = False
        try:
            async for page in self.client.iter_device_pages(show_deleted=self.show_deleted):
                for raw in page:
                    if not raw.id:
                        continue  # no id, no identity: it could not be alerted on
                    out.devices[raw.id] = to_device(self.source, raw)
                if self.progress is not None:
                    self.progress.work_done(self.source, len(page))
            complete = True
        except SourceError as exc:
            out.ok = False
            out.auth_failed = is_auth_error(exc)
            out.errors.append(f"list devices: {exc}")
        seen = frozenset(out.devices)
        if complete:
            out.coverage = Coverage(
                source=self.source,
                devices=seen,
                device_list_complete=True,
                complete_kinds=frozenset({FactKind.DEVICE}),
            )
        else:
            out.coverage = Coverage(
                source=self.source,
                devices=seen,
                device_list_complete=False,
                partial={FactKind.DEVICE: seen} if seen else {},
            )
        out.requests = self.client.requests_made - start
        unavailable = sorted(k.value for k in needs if k is not FactKind.DEVICE)
        log.debug(
            "applivery.swept",
            source=self.source,
            devices=len(seen),
            complete=complete,
            requests=out.requests,
            unavailable=unavailable,
        )
        return out


__all__ = ["AppliverySweeper"]
