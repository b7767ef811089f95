"""The per-device sweep of a Kandji tenant: list devices, then per device what rules need.

This is the straightforward strategy (about one request per device and fact kind). It
is the reference the planned sweep is checked against, and the fallback when a tenant's
token lacks the fleet-wide endpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import structlog

from monitor.errors import NotFoundError, SourceError, is_auth_error
from monitor.models import Coverage, Device, FactKind, Subject, SubjectKind
from monitor.sources.base import SweepOutcome, SweepProgress
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.mapping import (
    app_subject,
    library_item_subject,
    parameter_subject,
    to_device,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Lost mode only exists on iPhones and iPads.
_LOST_MODE_PLATFORMS = frozenset({"iPhone", "iPad"})


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
            details = None
            subjects: dict[SubjectKind, list[Subject]] = {}
            try:
                if FactKind.DETAILS in kinds:
                    details = await self.client.get_device_details(did)
                    observed[FactKind.DETAILS].add(did)
                if kinds & {FactKind.LIBRARY_ITEMS, FactKind.PARAMETERS}:
                    status = await self.client.get_device_status(did)
                    if FactKind.LIBRARY_ITEMS in kinds:
                        subjects[SubjectKind.LIBRARY_ITEM] = [
                            library_item_subject(row) for row in status.library_items
                        ]
                        observed[FactKind.LIBRARY_ITEMS].add(did)
                    if FactKind.PARAMETERS in kinds:
                        subjects[SubjectKind.PARAMETER] = [
                            parameter_subject(row) for row in status.parameters
                        ]
                        observed[FactKind.PARAMETERS].add(did)
                if FactKind.APPS in kinds:
                    apps = await self.client.get_device_apps(did)
                    subjects[SubjectKind.APP] = [app_subject(a) for a in apps.apps]
                    observed[FactKind.APPS].add(did)
                if FactKind.LOST_MODE in kinds:
                    if raw.platform in _LOST_MODE_PLATFORMS:
                        lost = await _none_on_client_error(self.client.get_lost_mode_details(did))
                        subjects[SubjectKind.LOST_MODE] = (
                            []
                            if lost is None
                            else [
                                Subject(
                                    kind=SubjectKind.LOST_MODE,
                                    id="lost_mode",
                                    name="Lost Mode",
                                    status=str(getattr(lost, "lost_mode_status", "") or ""),
                                )
                            ]
                        )
                    observed[FactKind.LOST_MODE].add(did)
            except NotFoundError:
                # Removed while we were sweeping: nothing observed for it, nothing resolved.
                return
            except SourceError as exc:
                out.ok = False
                out.errors.append(f"device {did}: {exc}")
                return
            finally:
                if progress is not None:
                    progress.work_done(self.source)
                dev: Device = to_device(self.source, raw, details)
                out.devices[did] = dev
                if subjects:
                    out.subjects[did] = subjects

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


async def _none_on_client_error(call: Awaitable[T]) -> T | None:
    """Lost mode details answer 400 when the device is not in Lost Mode: that is 'none'."""
    from monitor.errors import ClientRequestError

    try:
        return await call
    except ClientRequestError:
        return None


__all__ = ["KandjiPerDeviceSweeper"]
