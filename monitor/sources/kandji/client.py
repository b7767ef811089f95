"""The Kandji (Iru) API client: one typed method per endpoint the monitor reads.

Raw JSON becomes :mod:`monitor.sources.kandji.models` here;
:mod:`monitor.sources.kandji.mapping` turns those into the shared vocabulary.

Every answer passes the checks of :class:`~monitor.sources.kandji.api.KandjiApi`, the
client's ``api`` (a sweeper paging an endpoint through ``client.api`` gets them too);
a 404 on a per-device endpoint for a device that ``GET /devices/{id}`` still answers
is not believed (an HTML error page on a routing glitch is not proof the device is
gone).

:meth:`KandjiClient.list_devices` pages with a one-device overlap: when devices are
added or removed while it reads, the overlap no longer matches and it starts over, so a
device that moved across a page boundary is never skipped (a skipped device would look
gone). Undocumented status values are kept (rules can test ``status_known``) and logged
once per value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from monitor.errors import MalformedResponseError, NotFoundError, SourceError
from monitor.sources.http import (
    MAX_PAGE_SIZE,
    Params,
)
from monitor.sources.kandji.api import (
    BLUEPRINT_LIBRARY_ITEMS,
    BLUEPRINTS,
    DEVICE,
    DEVICE_ACTIVITY,
    DEVICE_APPS,
    DEVICE_DETAILS,
    DEVICE_LIBRARY_ITEMS,
    DEVICE_LOST_MODE,
    DEVICE_PARAMETERS,
    DEVICE_STATUS,
    DEVICES,
    LIBRARY_ITEM_STATUS,
    KandjiApi,
)
from monitor.sources.kandji.config import KandjiSourceConfig
from monitor.sources.kandji.details import KDeviceDetails, KLostModeDetails
from monitor.sources.kandji.models import (
    KBlueprint,
    KBlueprintLibraryItem,
    KDevice,
    KDeviceActivity,
    KDeviceApps,
    KDeviceLibraryItems,
    KDeviceParameters,
    KDeviceStatus,
    KLibraryItemStatusRow,
)
from monitor.sources.vendor import VendorClient

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _same(device: KDevice) -> KDevice:
    return device

LIST_ATTEMPTS = 3
"""How many times :meth:`KandjiClient.list_devices` reads the list when it keeps moving
(a moved list is not a failed request: each pass sends each page under the retry
policy once)."""

class DeviceListShiftedError(SourceError):
    """The device list kept changing while it was paged through; nothing was concluded."""

    retryable = True


class KandjiClient(VendorClient[KandjiSourceConfig, KandjiApi]):
    """Typed access to one Kandji tenant (built from its config and the
    :class:`~monitor.sources.http.ClientOptions`)."""

    api_class = KandjiApi

    @property
    def page_size(self) -> int:
        """Devices (and rows) asked for per page."""
        return self.config.page_size

    # ------------------------------------------------------------------ devices

    async def iter_device_pages(
        self,
        platform: str | None = None,
        *,
        filters: Params | None = None,
    ) -> AsyncIterator[list[KDevice]]:
        """Yield ``GET /devices`` page by page (bare lists, ``page_size`` a page).

        ``platform`` is ``Mac``, ``iPhone``, ``iPad``, ``AppleTV``, ``Android`` or
        ``Windows``; ``filters`` are further query parameters (``blueprint_id``,
        ``tag_name``, ...).
        """
        params: dict[str, str | int | float] = dict(filters or {})
        if platform is not None:
            params["platform"] = platform
        async for page in self.api.iter_pages(
            DEVICES, params=params, limit=self.page_size, shape="list"
        ):
            yield self._device_rows(page.items)

    def _device_rows(self, rows: list[Any]) -> list[KDevice]:
        return self.parse_rows(KDevice, rows, DEVICES)

    async def list_devices(
        self,
        platform: str | None = None,
        *,
        filters: Params | None = None,
    ) -> list[KDevice]:
        """Every device (all pages) matching ``platform`` and ``filters``, read consistently.

        A page whose answer is unusable is asked again (the retry policy). Pages
        overlap by one device: each page after the first must start with the last
        device of the page before. When it does not (devices were added or removed in
        between, so the pages shifted) or a device shows up twice, the list is read
        again from the start, at most :data:`LIST_ATTEMPTS` times; then
        :class:`DeviceListShiftedError`. The overlap costs one device per page.
        """
        return await self.list_devices_as(_same, platform, filters=filters)

    async def list_devices_as(
        self,
        convert: Callable[[KDevice], T],
        platform: str | None = None,
        *,
        filters: Params | None = None,
    ) -> list[T]:
        """:meth:`list_devices`, each record turned by ``convert`` as its page arrives
        (a large fleet's records are then never all held at once)."""
        params: dict[str, str | int | float] = dict(filters or {})
        if platform is not None:
            params["platform"] = platform
        for attempt in range(1, LIST_ATTEMPTS + 1):
            devices = await self._read_device_list(params, convert)
            if devices is not None:
                log.debug("kandji.devices_listed", source=self.name, devices=len(devices))
                return devices
            log.warning(
                "kandji.device_list_shifted",
                source=self.name,
                attempt=attempt,
                hint="devices were added or removed while the list was read; reading again",
            )
        raise DeviceListShiftedError(
            f"{self.name}: {DEVICES}: the device list changed while it was read, "
            f"{LIST_ATTEMPTS} times in a row",
            source=self.name,
            endpoint=DEVICES,
        )

    async def _read_device_list(
        self, params: Params, convert: Callable[[KDevice], T]
    ) -> list[T] | None:
        """One overlapped pass over the device list; None when the pages moved."""
        limit = max(2, min(self.page_size, MAX_PAGE_SIZE))  # an overlap of 1 needs 2
        devices: list[T] = []
        seen: set[str] = set()
        last = ""
        offset = 0
        for _ in range(100_000):
            rows = await self._device_page({**params, "limit": limit, "offset": offset})
            if offset > 0:
                if not rows or rows[0].device_id != last:
                    return None
                fresh = rows[1:]
            else:
                fresh = rows
            for device in fresh:
                if device.device_id in seen:
                    return None
                seen.add(device.device_id)
                devices.append(convert(device))
            if rows:
                last = rows[-1].device_id
            if len(rows) < limit:
                return devices
            offset += len(rows) - 1
        raise self.malformed(DEVICES, "the device list did not end after 100000 pages")

    async def _device_page(self, params: Params) -> list[KDevice]:
        """One page of the device list (its api asks again for an unusable answer)."""
        body = await self.api.get_json(DEVICES, params=params)
        if not isinstance(body, list):
            raise self.malformed(DEVICES, f"expected a list, got {type(body).__name__}")
        return self._device_rows(body)

    async def get_device(self, device_id: str) -> KDevice:
        """``GET /devices/{device_id}``."""
        body = await self.api.get_json(DEVICE, path_params={"device_id": device_id})
        return self.parse(KDevice, body, DEVICE)

    async def _device_part(
        self, endpoint: str, device_id: str, params: Params | None = None
    ) -> Any:
        """GET a per-device endpoint; a 404 is believed only if the device is gone.

        The device endpoints answer 404 for a device that no longer exists, but an
        HTML "Not Found" page on a routing glitch looks the same. One ``GET
        /devices/{id}`` tells them apart: if the device is still there, the 404 is a
        malformed answer (the device is held), not a removal.
        """
        path = {"device_id": device_id}
        try:
            return await self.api.get_json(endpoint, path_params=path, params=params)
        except NotFoundError as missing:
            try:
                await self.api.get_json(DEVICE, path_params=path)
            except NotFoundError:
                raise missing from None
            log.warning(
                "kandji.inconsistent_404",
                source=self.name,
                endpoint=endpoint,
                device_id=device_id,
                hint="the device still exists; its data is held",
            )
            raise MalformedResponseError(
                f"{self.name}: {endpoint} answered 404 for device {device_id}, "
                "which the tenant still has",
                source=self.name,
                endpoint=endpoint,
                status=404,
            ) from missing

    async def _device_answer(
        self, model: type[M], endpoint: str, device_id: str, params: Params | None = None
    ) -> M:
        """A per-device endpoint's answer as ``model`` (see :meth:`_device_part`)."""
        return self.parse(model, await self._device_part(endpoint, device_id, params), endpoint)

    async def get_device_details(self, device_id: str) -> KDeviceDetails:
        """``GET /devices/{device_id}/details`` (sections depend on the platform)."""
        return await self._device_answer(KDeviceDetails, DEVICE_DETAILS, device_id)

    async def get_device_status(self, device_id: str) -> KDeviceStatus:
        """``GET /devices/{device_id}/status``: library items and parameters together."""
        return await self._device_answer(KDeviceStatus, DEVICE_STATUS, device_id)

    async def get_device_library_items(self, device_id: str) -> KDeviceLibraryItems:
        """``GET /devices/{device_id}/library-items``."""
        return await self._device_answer(KDeviceLibraryItems, DEVICE_LIBRARY_ITEMS, device_id)

    async def get_device_parameters(self, device_id: str) -> KDeviceParameters:
        """``GET /devices/{device_id}/parameters`` (macOS only)."""
        return await self._device_answer(KDeviceParameters, DEVICE_PARAMETERS, device_id)

    async def get_device_apps(self, device_id: str) -> KDeviceApps:
        """``GET /devices/{device_id}/apps`` (the whole inventory in one response)."""
        return await self._device_answer(KDeviceApps, DEVICE_APPS, device_id)

    async def get_device_activity(
        self, device_id: str, limit: int = 300, offset: int = 0
    ) -> KDeviceActivity:
        """One page of ``GET /devices/{device_id}/activity`` (``limit`` at most 300)."""
        return await self._device_answer(
            KDeviceActivity,
            DEVICE_ACTIVITY,
            device_id,
            params={"limit": max(1, min(limit, 300)), "offset": max(0, offset)},
        )

    async def get_lost_mode_details(self, device_id: str) -> KLostModeDetails:
        """``GET /devices/{device_id}/details/lostmode`` (iOS and iPadOS).

        Raises :class:`~monitor.errors.ClientRequestError` (400) when the device is not
        in Lost Mode: that is how the API says it.
        """
        return await self._device_answer(KLostModeDetails, DEVICE_LOST_MODE, device_id)

    async def cancel_lost_mode(self, device_id: str) -> None:
        """``DELETE /devices/{device_id}/details/lostmode`` (cancels a stuck Lost Mode)."""
        await self.api.delete(DEVICE_LOST_MODE, path_params={"device_id": device_id})

    async def update_device(self, device_id: str, body: Mapping[str, Any]) -> KDevice:
        """``PATCH /devices/{device_id}`` with any of ``blueprint_id``, ``user``,
        ``asset_tag``, ``tags`` (``tags`` replaces the whole set); returns the record."""
        answer = await self.api.patch_json(DEVICE, dict(body), path_params={"device_id": device_id})
        return self.parse(KDevice, answer, DEVICE)

    # ------------------------------------------------------------------ fleet-wide

    async def list_blueprints(self) -> list[KBlueprint]:
        """Every blueprint (``GET /blueprints``, all pages)."""
        out: list[KBlueprint] = []
        async for page in self.api.iter_pages(BLUEPRINTS, limit=self.page_size):
            out.extend(self.parse_rows(KBlueprint, page.items, BLUEPRINTS))
        return out

    async def list_blueprint_library_items(self, blueprint_id: str) -> list[KBlueprintLibraryItem]:
        """The library items assigned to a blueprint (all pages)."""
        out: list[KBlueprintLibraryItem] = []
        async for page in self.api.iter_pages(
            BLUEPRINT_LIBRARY_ITEMS,
            path_params={"blueprint_id": blueprint_id},
            limit=self.page_size,
        ):
            out.extend(self.parse_rows(KBlueprintLibraryItem, page.items, BLUEPRINT_LIBRARY_ITEMS))
        return out

    async def iter_library_item_status(
        self, library_item_id: str, *, computer_id: str | None = None
    ) -> AsyncIterator[list[KLibraryItemStatusRow]]:
        """Yield the pages of one library item's status across devices (300 rows a page)."""
        params: dict[str, str | int | float] = {}
        if computer_id is not None:
            params["computer_id"] = computer_id
        async for page in self.api.iter_pages(
            LIBRARY_ITEM_STATUS,
            path_params={"library_item_id": library_item_id},
            params=params,
            limit=self.page_size,
        ):
            yield self.parse_rows(KLibraryItemStatusRow, page.items, LIBRARY_ITEM_STATUS)

    async def library_item_status_page(
        self, library_item_id: str, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int | None]:
        """One page (``page_size`` rows from ``offset``) of an item's status across
        devices, and the total row count the answer reports (None when it has none).

        The rows are the answer's objects, unparsed: the seam checked that each has a
        ``status`` and a ``computer.id``. A fleet-wide read keeps a few rows in
        thousands, so it parses only those (:class:`KLibraryItemStatusRow`).
        """
        body = await self.api.get_json(
            LIBRARY_ITEM_STATUS,
            path_params={"library_item_id": library_item_id},
            params={"limit": self.page_size, "offset": offset},
        )
        page = body if isinstance(body, dict) else {"results": body}
        count = page.get("count")
        rows: list[dict[str, Any]] = page["results"]
        return rows, count if isinstance(count, int) and not isinstance(count, bool) else None

    async def get_library_item_status(
        self, library_item_id: str, *, computer_id: str | None = None
    ) -> list[KLibraryItemStatusRow]:
        """Every row of one library item's status across devices."""
        rows: list[KLibraryItemStatusRow] = []
        async for page in self.iter_library_item_status(library_item_id, computer_id=computer_id):
            rows.extend(page)
        return rows


__all__ = ["LIST_ATTEMPTS", "DeviceListShiftedError", "KandjiClient"]
