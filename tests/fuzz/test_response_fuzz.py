"""Fuzzed API responses: whatever JSON a tenant answers, each client method returns its
model or raises MalformedResponseError (for Applivery, also the error its envelope
declares), never anything else.

Bodies are either arbitrary JSON or a documented example body after random structural
edits (keys deleted, inserted, retyped). A small HTTP server on loopback (in a thread, so
one server serves every example) answers each request with the body under test.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.errors import MalformedResponseError, SourceError
from monitor.sources.applivery.client import AppliveryClient
from monitor.sources.applivery.config import AppliverySourceConfig
from monitor.sources.applivery.models import page_of
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import KandjiSourceConfig
from tests.fixtures import kandji_example
from tests.fuzz.strategies import FUZZ, all_keys, json_values, mutated

DEVICE_ID = "8d5f6a2e-6f5b-4b6e-9a59-1c1f3e0c9b11"
WIN_DEVICE_ID = "64b7f0c2a1b2c3d4e5f60718"


def example(rel: str) -> Any:
    """A documented example body (placeholder lines of the Mac details dropped)."""
    return kandji_example(rel)


class Server:
    """An HTTP server in a thread answering every request with ``body`` (status 200)."""

    def __init__(self) -> None:
        self.body: bytes = b"null"
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def answer(request: web.Request) -> web.Response:
            # Later pages are empty, so paging over a fuzzed body ends.
            later = request.query.get("offset", "0") not in ("", "0") or request.query.get(
                "page", "1"
            ) not in ("", "1")
            body = b"[]" if later else self.body
            return web.Response(body=body, content_type="application/json")

        async def start() -> web.AppRunner:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", answer)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(runner.addresses[0][1])
            return runner

        runner = self._loop.run_until_complete(start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server() as s:
        yield s


KandjiCall = Callable[[KandjiClient], Awaitable[Any]]

KANDJI: dict[str, tuple[str, KandjiCall]] = {
    "list_devices": (
        "device-information/list-devices/01-list-devices.json",
        lambda c: c.list_devices(),
    ),
    "get_device": ("device-information/get-device/01-get-mac.json",
                   lambda c: c.get_device(DEVICE_ID)),
    "details": (
        "device-information/get-device-details/01-get-mac-details.txt",
        lambda c: c.get_device_details(DEVICE_ID),
    ),
    "status": (
        "device-information/get-device-status/01-get-device-status.json",
        lambda c: c.get_device_status(DEVICE_ID),
    ),
    "library_items": (
        "device-information/get-device-library-items/02-edr-status.json",
        lambda c: c.get_device_library_items(DEVICE_ID),
    ),
    "parameters": (
        "device-information/get-device-parameters/01-get-device-parameters.json",
        lambda c: c.get_device_parameters(DEVICE_ID),
    ),
    "apps": (
        "device-information/get-device-apps/03-windows-device-apps.json",
        lambda c: c.get_device_apps(DEVICE_ID),
    ),
    "activity": (
        "device-information/get-device-activity/02-get-device-activity-with-blueprint-routing.json",
        lambda c: c.get_device_activity(DEVICE_ID),
    ),
    "lost_mode": (
        "device-information/get-device-lost-mode-details/01-get-device-lost-mode-details.json",
        lambda c: c.get_lost_mode_details(DEVICE_ID),
    ),
    "blueprints": (
        "blueprints/list-blueprints/01-success.json",
        lambda c: c.list_blueprints(),
    ),
    "blueprint_items": (
        "blueprints/list-library-items/01-success.json",
        lambda c: c.list_blueprint_library_items("bp-1"),
    ),
    "item_status": (
        "library-items/get-library-item-statuses/02-edr-status.json",
        lambda c: c.get_library_item_status("item-1"),
    ),
}


def bodies(seed: Any) -> st.SearchStrategy[Any]:
    """Arbitrary JSON, or the documented body after random edits."""
    return st.one_of(json_values, mutated(seed, all_keys(seed)))


async def call_kandji(url: str, call: KandjiCall) -> Any:
    config = KandjiSourceConfig(
        name="fuzz", kind="kandji", url=url, token=SecretStr("fuzz-token-1234"),
        retry={"max_attempts": 1},
    )
    async with KandjiClient(config, clock=FakeClock(autojump=True)) as client:
        return await call(client)


def serve_and_call(
    server: Server,
    body: Any,
    run: Callable[[], Coroutine[Any, Any, Any]],
    allowed: type[SourceError] = MalformedResponseError,
) -> None:
    """Serve ``body``; the call returns a model or raises ``allowed`` (nothing else)."""
    server.body = json.dumps(body, allow_nan=True).encode()
    try:
        asyncio.run(run())
    except allowed as exc:
        error: SourceError | None = exc
    else:
        error = None
    if error is not None:
        assert error.source == "fuzz"
        assert "fuzz-token-1234" not in str(error)


@pytest.mark.parametrize("endpoint", sorted(KANDJI))
def test_kandji_client_answers_a_model_or_malformed(server: Server, endpoint: str) -> None:
    rel, call = KANDJI[endpoint]
    seed = example(rel)
    serve_and_call(server, seed, lambda: call_kandji(server.url, call))  # the example parses

    @FUZZ
    @given(bodies(seed))
    def check(body: Any) -> None:
        serve_and_call(server, body, lambda: call_kandji(server.url, call))

    check()


APPLIVERY_DEVICE: dict[str, Any] = {
    "status": True,
    "data": {
        "id": WIN_DEVICE_ID,
        "name": "DESKTOP-1",
        "serialNumber": "SN123",
        "summary": {"compliance": {"compliant": False, "lastCheck": "2025-01-01T00:00:00Z"}},
        "tags": ["a"],
    },
}
APPLIVERY_PAGE: dict[str, Any] = {
    "status": True,
    "data": {"items": [APPLIVERY_DEVICE["data"]], "hasNextPage": False, "page": 1,
             "totalPages": 1, "totalDocs": 1, "limit": 100},
}
AppliveryCall = Callable[[AppliveryClient], Awaitable[Any]]
APPLIVERY: dict[str, tuple[Any, AppliveryCall]] = {
    "list_devices": (APPLIVERY_PAGE, lambda c: c.list_devices()),
    "get_device": (APPLIVERY_DEVICE, lambda c: c.get_device(WIN_DEVICE_ID)),
    "info_refresh": (
        {"status": True, "data": {"status": True}},
        lambda c: c.request_info_refresh(WIN_DEVICE_ID, ["hardware"]),
    ),
}


async def call_applivery(url: str, call: AppliveryCall) -> Any:
    config = AppliverySourceConfig(
        name="fuzz", kind="applivery", url=url, organization="acme-org",
        token=SecretStr("fuzz-token-1234"), retry={"max_attempts": 1},
    )
    async with AppliveryClient(config, clock=FakeClock(autojump=True)) as client:
        return await call(client)


@pytest.mark.parametrize("endpoint", sorted(APPLIVERY))
def test_applivery_client_answers_a_model_or_a_source_error(
    server: Server, endpoint: str
) -> None:
    # Applivery wraps answers in {status, data, error}: a body whose envelope says the
    # call failed is an error answer (ClientRequestError, AuthError...), not garbage.
    seed, call = APPLIVERY[endpoint]
    serve_and_call(server, seed, lambda: call_applivery(server.url, call))

    @FUZZ
    @given(bodies(seed))
    def check(body: Any) -> None:
        serve_and_call(server, body, lambda: call_applivery(server.url, call), SourceError)

    check()


def test_applivery_page_numbers_beyond_an_int_are_not_a_crash(server: Server) -> None:
    body = json.loads(json.dumps(APPLIVERY_PAGE))
    body["data"]["page"] = float("inf")  # sent as Infinity, which JSON does not have
    serve_and_call(server, body, lambda: call_applivery(server.url, lambda c: c.list_devices()),
                   SourceError)
    body["data"]["page"] = 10**30  # a number JSON allows, far beyond any page count
    serve_and_call(server, body, lambda: call_applivery(server.url, lambda c: c.list_devices()))
    # Whatever a parser makes of such numbers, a page number that is no int is no number.
    parsed = page_of({"items": [], "page": float("inf"), "totalPages": float("nan")})
    assert parsed is not None
    assert parsed[1].page is None
    assert parsed[1].total_pages is None


@pytest.mark.xfail(
    strict=True,
    reason="applivery_models.page_of drops rows that are not objects, so a device whose "
    "row came back null is missing from a list the sweep takes as complete",
)
def test_a_null_applivery_device_row_is_refused_not_dropped(server: Server) -> None:
    body = json.loads(json.dumps(APPLIVERY_PAGE))
    body["data"]["items"].append(None)
    server.body = json.dumps(body).encode()
    with pytest.raises(MalformedResponseError):
        asyncio.run(call_applivery(server.url, lambda c: c.list_devices()))
