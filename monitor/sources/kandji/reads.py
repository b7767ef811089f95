"""The per-device reads of one Kandji device, written once.

What a device's facts take beyond the device list: ``/details``, ``/status`` (library
items and parameters), ``/apps`` and, on iPhones and iPads, ``/details/lostmode``. The
per-device sweep, the planned sweep's per-device reads and ``explain`` all read through
these functions, so a device's subjects are the same whichever path fetched them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from monitor.errors import ClientRequestError, NotFoundError, SourceError
from monitor.models import FactKind, Subject, SubjectKind
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.details import KDeviceDetails
from monitor.sources.kandji.mapping import (
    LOST_MODE_PLATFORMS,
    app_subject,
    library_item_subject,
    lost_mode_subject,
    parameter_subject,
)

STATUS_KINDS = frozenset({FactKind.LIBRARY_ITEMS, FactKind.PARAMETERS})
"""The fact kinds one ``/status`` read carries."""


async def read_lost_mode(client: KandjiClient, device_id: str, platform: str) -> list[Subject]:
    """The device's Lost Mode subject: none on a platform without Lost Mode, none when
    the device is not in it (the API answers 400, which is how it says so)."""
    if platform not in LOST_MODE_PLATFORMS:
        return []
    try:
        lost = await client.get_lost_mode_details(device_id)
    except ClientRequestError:
        return []
    return [lost_mode_subject(lost.lost_mode)]


async def read_status(
    client: KandjiClient, device_id: str, kinds: Collection[FactKind]
) -> dict[SubjectKind, list[Subject]]:
    """Library items and/or parameters (as ``kinds`` asks) from one ``/status`` read."""
    status = await client.get_device_status(device_id)
    out: dict[SubjectKind, list[Subject]] = {}
    if FactKind.LIBRARY_ITEMS in kinds:
        out[SubjectKind.LIBRARY_ITEM] = [library_item_subject(r) for r in status.library_items]
    if FactKind.PARAMETERS in kinds:
        out[SubjectKind.PARAMETER] = [parameter_subject(r) for r in status.parameters]
    return out


async def read_apps(client: KandjiClient, device_id: str) -> list[Subject]:
    """The device's installed apps."""
    return [app_subject(a) for a in (await client.get_device_apps(device_id)).apps]


@dataclass(slots=True)
class DeviceRead:
    """What the per-device reads of one device returned.

    ``observed``: the fact kinds read fresh; ``errors``: ``(what, error)`` of each
    read that failed (only when reading went on past a failure).
    """

    details: KDeviceDetails | None = None
    subjects: dict[SubjectKind, list[Subject]] = field(default_factory=dict)
    observed: set[FactKind] = field(default_factory=set)
    errors: list[tuple[str, SourceError]] = field(default_factory=list)


async def read_device(
    client: KandjiClient,
    device_id: str,
    platform: str,
    kinds: Collection[FactKind],
    *,
    keep_going: bool = False,
) -> DeviceRead:
    """Read what ``kinds`` names about one device, in one request per endpoint.

    A :class:`~monitor.errors.NotFoundError` propagates (the device is gone). Any other
    failure is noted in ``errors``; reading stops there, unless ``keep_going`` (a token
    that may not read details still shows the library items). What was read before
    is returned either way.
    """
    out = DeviceRead()

    async def attempt(what: str, kind: FactKind) -> bool:
        try:
            if kind is FactKind.DETAILS:
                out.details = await client.get_device_details(device_id)
                out.observed.add(FactKind.DETAILS)
            elif kind is FactKind.LIBRARY_ITEMS:
                out.subjects.update(await read_status(client, device_id, kinds))
                out.observed.update(STATUS_KINDS & set(kinds))
            elif kind is FactKind.APPS:
                out.subjects[SubjectKind.APP] = await read_apps(client, device_id)
                out.observed.add(FactKind.APPS)
            else:
                lost = await read_lost_mode(client, device_id, platform)
                out.subjects[SubjectKind.LOST_MODE] = lost
                out.observed.add(FactKind.LOST_MODE)
        except NotFoundError:
            raise
        except SourceError as exc:
            out.errors.append((what, exc))
            return keep_going
        return True

    wanted = set(kinds)
    reads = (
        ("details", FactKind.DETAILS, FactKind.DETAILS in wanted),
        ("status", FactKind.LIBRARY_ITEMS, bool(STATUS_KINDS & wanted)),
        ("apps", FactKind.APPS, FactKind.APPS in wanted),
        ("lost mode", FactKind.LOST_MODE, FactKind.LOST_MODE in wanted),
    )
    for what, kind, needed in reads:
        if needed and not await attempt(what, kind):
            break
    return out


__all__ = [
    "STATUS_KINDS",
    "DeviceRead",
    "read_apps",
    "read_device",
    "read_lost_mode",
    "read_status",
]
