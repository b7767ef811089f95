"""The aiohttp seam against a real HTTP server on loopback: auth, paging, retries, errors."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import traceback
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.config import BudgetConfig, RetryConfig
from monitor.errors import (
    AuthError,
    BudgetExhaustedError,
    ClientRequestError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SourceError,
    TransportError,
)
from monitor.sources.budget import RequestBudget
from monitor.sources.http import ApiClient
from tests.sources.conftest import EXAMPLES, TOKEN, RecordingClock, Serve
from tests.sources.test_budget import max_in_any_window

STATUS = "/api/v1/devices/{device_id}/status"


def make_client(
    url: str,
    clock: RecordingClock,
    *,
    attempts: int = 4,
    budget: BudgetConfig | None = None,
    timeout: float = 5.0,
    max_retry_after: float = 300.0,
    on_request: Any = None,
    session: aiohttp.ClientSession | None = None,
    budget_max_wait: float | None = None,
) -> ApiClient:
    return ApiClient(
        source="acme",
        base_url=url,
        token=SecretStr(TOKEN),
        clock=clock,
        budget=RequestBudget(
            budget or BudgetConfig(requests_per_hour=10_000, burst_per_second=1000), clock
        ),
        retry=RetryConfig(
            max_attempts=attempts,
            backoff_base=timedelta(seconds=1),
            backoff_max=timedelta(seconds=30),
            max_retry_after=timedelta(seconds=max_retry_after),
        ),
        timeout=timeout,
        session=session,
        on_request=on_request,
        budget_max_wait=budget_max_wait,
        rng=random.Random(7),
    )


def scripted(*answers: web.StreamResponse) -> tuple[web.Application, list[web.Request]]:
    """An app answering GET/POST/PATCH/DELETE on any path with ``answers`` in turn (the
    last one repeats), recording each request."""
    seen: list[web.Request] = []
    queue = list(answers)

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else _clone(queue[0])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app, seen


def _clone(resp: web.StreamResponse) -> web.StreamResponse:
    assert isinstance(resp, web.Response)
    return web.Response(
        status=resp.status,
        body=resp.body,
        headers={k: v for k, v in resp.headers.items() if k.lower() != "content-length"},
    )


def ok(body: Any) -> web.Response:
    return web.json_response(body)


def status(code: int, body: str = "", *, content_type: str = "application/json",
           headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=code, text=body, content_type=content_type, headers=headers)


# --------------------------------------------------------------------------- basics


async def test_sends_bearer_token_and_accepts_json(serve: Serve, clock: RecordingClock) -> None:
    app, seen = scripted(ok({"device_id": "d1"}))
    async with make_client(await serve(app), clock) as client:
        body = await client.get_json(STATUS, path_params={"device_id": "d1"})
    assert body == {"device_id": "d1"}
    (request,) = seen
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert request.path == "/api/v1/devices/d1/status"


async def test_path_params_are_quoted_so_an_id_cannot_change_the_path(
    serve: Serve, clock: RecordingClock
) -> None:
    app, seen = scripted(ok({}))
    async with make_client(await serve(app), clock) as client:
        await client.get_json(STATUS, path_params={"device_id": "../../blueprints x"})
    assert seen[0].raw_path == "/api/v1/devices/..%2F..%2Fblueprints%20x/status"


async def test_patch_and_post_send_json_bodies_and_delete_returns_none_on_204(
    serve: Serve, clock: RecordingClock
) -> None:
    received: list[tuple[str, Any]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        payload = await request.json() if request.can_read_body else None
        received.append((request.method, payload))
        if request.method == "DELETE":
            return web.Response(status=204)
        return web.json_response({"echo": payload})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with make_client(await serve(app), clock) as client:
        patched = await client.patch_json("/api/v1/devices/{device_id}", {"tags": ["a"]},
                                          path_params={"device_id": "d"})
        posted = await client.post_json("/api/v1/tags", {"name": "x"})
        deleted = await client.delete("/api/v1/devices/{device_id}/details/lostmode",
                                      path_params={"device_id": "d"})
    assert patched == {"echo": {"tags": ["a"]}}
    assert posted == {"echo": {"name": "x"}}
    assert deleted is None
    assert [m for m, _ in received] == ["PATCH", "POST", "DELETE"]


async def test_a_session_passed_in_stays_open_an_owned_one_is_closed(
    serve: Serve, clock: RecordingClock
) -> None:
    app, _ = scripted(ok([]))
    url = await serve(app)
    async with aiohttp.ClientSession() as session:
        client = make_client(url, clock, session=session)
        await client.get_json("/api/v1/devices")
        await client.close()
        assert not session.closed
    owned = make_client(url, clock)
    await owned.get_json("/api/v1/devices")
    inner = owned._session
    assert inner is not None
    await owned.close()
    assert inner.closed


# --------------------------------------------------------------------------- paging


def offset_app(total: int, shape: str) -> tuple[web.Application, list[tuple[int, int]]]:
    """Items 0..total-1 paged by limit/offset, as a bare list, a DRF page or a nested one."""
    calls: list[tuple[int, int]] = []

    async def handler(request: web.Request) -> web.Response:
        limit = int(request.query["limit"])
        offset = int(request.query["offset"])
        calls.append((limit, offset))
        items = list(range(total))[offset : offset + limit]
        if shape == "list":
            return web.json_response(items)
        following = offset + limit < total
        page = {
            "count": total,
            "next": f"https://elsewhere.example/x?limit={limit}&offset={offset + limit}"
            if following
            else None,
            "previous": None,
            "results": items,
        }
        if shape == "nested":
            return web.json_response({"device_id": "d", "activity": page})
        return web.json_response(page)

    app = web.Application()
    app.router.add_get("/items", handler)
    return app, calls


@pytest.mark.parametrize(
    ("total", "expected_calls"),
    [
        (7, [(3, 0), (3, 3), (3, 6)]),  # ends on a short page
        (6, [(3, 0), (3, 3), (3, 6)]),  # ends on an empty page
        (0, [(3, 0)]),
    ],
)
async def test_bare_list_pages_until_a_short_or_empty_page(
    serve: Serve, clock: RecordingClock, total: int, expected_calls: list[tuple[int, int]]
) -> None:
    app, calls = offset_app(total, "list")
    async with make_client(await serve(app), clock) as client:
        items = [i async for page in client.iter_pages("/items", limit=3, shape="list")
                 for i in page.items]
    assert items == list(range(total))
    assert calls == expected_calls


@pytest.mark.parametrize("shape", ["drf", "nested"])
async def test_drf_pages_follow_the_offset_until_next_is_null(
    serve: Serve, clock: RecordingClock, shape: str
) -> None:
    app, calls = offset_app(7, shape)
    nested_key = "activity" if shape == "nested" else None
    async with make_client(await serve(app), clock) as client:
        pages = [p async for p in client.iter_pages("/items", limit=3, nested_key=nested_key)]
    assert [p.items for p in pages] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [p.count for p in pages] == [7, 7, 7]
    # The next offset is computed: the "next" URL names a host we must not call.
    assert calls == [(3, 0), (3, 3), (3, 6)]


async def test_limit_never_exceeds_300(serve: Serve, clock: RecordingClock) -> None:
    app, calls = offset_app(5, "list")
    async with make_client(await serve(app), clock) as client:
        [page] = [p async for p in client.iter_pages("/items", limit=1000)]
    assert calls == [(300, 0)]
    assert page.items == [0, 1, 2, 3, 4]


async def test_a_page_of_the_wrong_shape_is_malformed(serve: Serve, clock: RecordingClock) -> None:
    app, _ = scripted(ok({"unexpected": True}))
    async with make_client(await serve(app), clock) as client:
        with pytest.raises(MalformedResponseError) as info:
            _ = [p async for p in client.iter_pages("/items", shape="auto")]
    assert info.value.endpoint == "/items"


# --------------------------------------------------------------------------- retries


async def test_429_retry_after_seconds_is_honoured(serve: Serve, clock: RecordingClock) -> None:
    app, seen = scripted(
        status(429, '{"message": "API rate limit exceeded"}', headers={"Retry-After": "7"}),
        status(429, "", headers={"Retry-After": "7"}),
        ok({"fine": True}),
    )
    async with make_client(await serve(app), clock) as client:
        body = await client.get_json(STATUS, path_params={"device_id": "d"})
    assert body == {"fine": True}
    assert len(seen) == 3
    assert [s for s in clock.sleeps if s >= 7] == [7.0, 7.0]
    assert clock.monotonic() >= 14
    assert client.stats.retries == 2


async def test_429_retry_after_as_an_http_date_is_honoured(
    serve: Serve, clock: RecordingClock
) -> None:
    when = format_datetime(clock.now() + timedelta(seconds=30), usegmt=True)
    app, seen = scripted(status(429, headers={"Retry-After": when}), ok([]))
    async with make_client(await serve(app), clock) as client:
        await client.get_json("/api/v1/devices")
    assert len(seen) == 2
    assert max(clock.sleeps) >= 29.0


async def test_retry_after_longer_than_the_cap_gives_up_and_says_when(
    serve: Serve, clock: RecordingClock
) -> None:
    app, seen = scripted(status(429, headers={"Retry-After": "3600"}))
    async with make_client(await serve(app), clock, max_retry_after=300) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.get_json("/api/v1/devices")
    assert len(seen) == 1
    assert info.value.retry_after == 3600
    assert info.value.status == 429


async def test_5xx_is_retried_with_backoff_then_succeeds(
    serve: Serve, clock: RecordingClock
) -> None:
    app, seen = scripted(status(502, "bad gateway"), status(500, "{}"), ok({"ok": 1}))
    async with make_client(await serve(app), clock) as client:
        assert await client.get_json("/api/v1/blueprints") == {"ok": 1}
    assert len(seen) == 3
    # Full jitter: each pause is within [0, base * 2**n].
    assert len(clock.sleeps) >= 2
    assert 0 <= clock.sleeps[0] <= 1
    assert 0 <= clock.sleeps[1] <= 2


async def test_exhausted_retries_raise_server_error_with_the_endpoint_template(
    serve: Serve, clock: RecordingClock
) -> None:
    app, seen = scripted(status(503, "<html><body>Service Unavailable</body></html>",
                                content_type="text/html"))
    async with make_client(await serve(app), clock, attempts=3) as client:
        with pytest.raises(ServerError) as info:
            await client.get_json(STATUS, path_params={"device_id": "0c4e-uuid"})
    assert len(seen) == 3
    err = info.value
    assert (err.source, err.endpoint, err.status) == ("acme", STATUS, 503)
    assert "0c4e-uuid" not in str(err)
    assert "Service Unavailable" in str(err)
    assert "<html>" not in str(err)
    assert err.retryable


async def test_post_is_not_resent_after_a_500_but_is_after_a_503(
    serve: Serve, clock: RecordingClock
) -> None:
    app, seen = scripted(status(500, "{}"))
    async with make_client(await serve(app), clock) as client:
        with pytest.raises(ServerError):
            await client.post_json("/api/v1/devices/{device_id}/action/blankpush",
                                   path_params={"device_id": "d"})
    assert len(seen) == 1
    app2, seen2 = scripted(status(503, "{}"), ok({}))
    async with make_client(await serve(app2), clock) as client:
        await client.post_json("/api/v1/devices/{device_id}/action/blankpush",
                               path_params={"device_id": "d"})
    assert len(seen2) == 2


async def test_timeout_is_a_transport_error_and_is_retried(
    serve: Serve, clock: RecordingClock
) -> None:
    never = asyncio.Event()
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await never.wait()  # the client gives up first
        return web.json_response({"late": False})

    app = web.Application()
    app.router.add_get("/slow", handler)
    async with make_client(await serve(app), clock, timeout=0.2) as client:
        assert await client.get_json("/slow") == {"late": False}
        assert client.stats.count("/slow", "timeout") == 1
    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("unreachable")

    app2 = web.Application()
    app2.router.add_get("/slow", hang)
    async with make_client(await serve(app2), clock, timeout=0.2, attempts=1) as client:
        with pytest.raises(TransportError) as info:
            await client.get_json("/slow")
    assert "timed out" in str(info.value)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_connection_reset_is_retried(serve: Serve, clock: RecordingClock) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            assert request.transport is not None
            request.transport.abort()  # drop the connection without an answer
        return web.json_response([1])

    app = web.Application()
    app.router.add_get("/flaky", handler)
    async with make_client(await serve(app), clock) as client:
        assert await client.get_json("/flaky") == [1]
    assert calls == 2


async def test_refused_connection_is_a_transport_error(clock: RecordingClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port any more.
    async with make_client(f"http://127.0.0.1:{port}", clock, attempts=2) as client:
        with pytest.raises(TransportError) as info:
            await client.get_json("/api/v1/devices")
    assert info.value.retryable
    assert info.value.source == "acme"
    assert client.stats.count(status="connection") == 2


# --------------------------------------------------------------------------- status codes


@pytest.mark.parametrize(
    ("code", "body", "content_type", "error"),
    [
        (401, '{"detail": "Invalid token."}', "application/json", AuthError),
        (403, '{"detail": "You do not have permission."}', "application/json",
         PermissionDeniedError),
        (404, None, "text/html", NotFoundError),
        (400, '["Device is not in lost mode."]', "application/json", ClientRequestError),
        (400, '"This device is already locked."', "application/json", ClientRequestError),
        (415, "", "text/plain", ClientRequestError),
        (302, "", "text/plain", MalformedResponseError),
    ],
)
async def test_status_codes_map_to_errors_and_are_not_retried(
    serve: Serve,
    clock: RecordingClock,
    code: int,
    body: str | None,
    content_type: str,
    error: type[SourceError],
) -> None:
    if body is None:
        body = (EXAMPLES / "library-items/delete-custom-app/"
                "02-requested-library-item-not-found.txt").read_text()
    headers = {"Location": "http://127.0.0.1:1/elsewhere"} if code == 302 else None
    app, seen = scripted(status(code, body, content_type=content_type, headers=headers))
    async with make_client(await serve(app), clock) as client:
        with pytest.raises(error) as info:
            await client.get_json(STATUS, path_params={"device_id": "d"})
    assert type(info.value) is error
    assert len(seen) == 1
    assert info.value.status == code
    assert info.value.endpoint == STATUS


async def test_html_404_excerpt_is_plain_text(serve: Serve, clock: RecordingClock) -> None:
    page = (EXAMPLES / "library-items/delete-custom-app/"
            "02-requested-library-item-not-found.txt").read_text()
    app, _ = scripted(status(404, page, content_type="text/html"))
    async with make_client(await serve(app), clock) as client:
        with pytest.raises(NotFoundError) as info:
            await client.delete("/api/v1/library/custom-apps/{id}", path_params={"id": "x"})
    message = str(info.value)
    assert "Not Found" in message
    assert "<" not in message
    assert len(message) < 300


async def test_lost_mode_array_body_is_quoted_in_the_error(
    serve: Serve, clock: RecordingClock
) -> None:
    body = (EXAMPLES / "device-information/get-device-lost-mode-details/"
            "02-device-not-in-lost-mode.json").read_text()
    app, _ = scripted(status(400, body))
    async with make_client(await serve(app), clock) as client:
        with pytest.raises(ClientRequestError) as info:
            await client.get_json("/api/v1/devices/{device_id}/details/lostmode",
                                  path_params={"device_id": "d"})
    assert "Device is not in lost mode." in str(info.value)


@pytest.mark.parametrize(
    "payload", ['{"device_id": "d", "library_items": [', "<html>oops</html>", "\xff\xfe{}"]
)
async def test_malformed_json_is_malformed_response_error_and_not_retried(
    serve: Serve, clock: RecordingClock, payload: str
) -> None:
    app, seen = scripted(status(200, payload))
    async with make_client(await serve(app), clock) as client:
        with pytest.raises(MalformedResponseError) as info:
            await client.get_json(STATUS, path_params={"device_id": "d"})
    assert len(seen) == 1
    assert info.value.status == 200
    assert info.value.__cause__ is not None


# --------------------------------------------------------------------------- budget


async def test_budget_is_never_exceeded_under_a_storm_of_429s(
    serve: Serve, clock: RecordingClock
) -> None:
    stamps: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        stamps.append(clock.monotonic())
        return web.json_response({"message": "API rate limit exceeded"}, status=429,
                                 headers={"Retry-After": "1"})

    app = web.Application()
    app.router.add_get("/api/v1/devices", handler)
    budget = BudgetConfig(requests_per_hour=12, burst_per_second=1000, concurrency=4)
    async with make_client(await serve(app), clock, attempts=6, budget=budget) as client:
        results = await asyncio.gather(
            *(client.get_json("/api/v1/devices") for _ in range(8)), return_exceptions=True
        )
    assert all(isinstance(r, RateLimitedError) for r in results)
    assert len(stamps) == 8 * 6  # every attempt reached the server...
    assert max_in_any_window(stamps, 3600.0) <= 12  # ...and never more than 12 an hour
    assert client.budget.spent_total == 48
    assert client.stats.count("/api/v1/devices", "429") == 48


async def test_budget_max_wait_fails_fast_without_sending(
    serve: Serve, clock: RecordingClock
) -> None:
    app, seen = scripted(ok([]))
    budget = BudgetConfig(requests_per_hour=1, burst_per_second=1000)
    async with make_client(await serve(app), clock, budget=budget, budget_max_wait=60) as client:
        await client.get_json("/api/v1/devices")
        with pytest.raises(BudgetExhaustedError) as info:
            await client.get_json("/api/v1/devices")
        assert info.value.retry_after is not None
        assert info.value.retry_after > 3000
        # A wait shorter than the Retry-After cap is still the caller's to decide on.
        clock.advance(3500)
        with pytest.raises(BudgetExhaustedError) as again:
            await client.get_json("/api/v1/devices")
        assert again.value.retry_after == pytest.approx(100)
    assert len(seen) == 1


# --------------------------------------------------------------------------- observability


async def test_stats_and_hook_count_attempts_by_endpoint_template_and_status(
    serve: Serve, clock: RecordingClock
) -> None:
    app, _ = scripted(status(500, "{}"), ok({}), ok({}))
    hooked: list[tuple[str, str, str, float]] = []
    async with make_client(
        await serve(app), clock, on_request=lambda *args: hooked.append(args)
    ) as client:
        await client.get_json(STATUS, path_params={"device_id": "a"})
        await client.get_json(STATUS, path_params={"device_id": "b"})
    assert client.stats.by_endpoint_status == {(STATUS, "500"): 1, (STATUS, "200"): 2}
    assert client.stats.requests == 3
    assert [(s, e, st) for s, e, st, _ in hooked] == [
        ("acme", STATUS, "500"),
        ("acme", STATUS, "200"),
        ("acme", STATUS, "200"),
    ]


async def test_the_gateway_remaining_hourly_budget_is_kept(
    serve: Serve, clock: RecordingClock
) -> None:
    app, _ = scripted(ok([]))
    app2, _ = scripted(web.json_response([], headers={"X-RateLimit-Remaining-Hour": "9996"}))
    async with make_client(await serve(app), clock) as client:
        await client.get_json("/a")
        assert client.stats.server_remaining_hour is None
    async with make_client(await serve(app2), clock) as client:
        await client.get_json("/a")
        assert client.stats.server_remaining_hour == 9996


async def test_a_failing_hook_does_not_break_requests(serve: Serve, clock: RecordingClock) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("metrics down")

    app, _ = scripted(ok({"fine": 1}))
    async with make_client(await serve(app), clock, on_request=broken) as client:
        assert await client.get_json("/x") == {"fine": 1}


async def test_the_token_never_appears_in_errors_or_logs(
    serve: Serve, clock: RecordingClock
) -> None:
    async def echo_auth(request: web.Request) -> web.Response:
        # A hostile or buggy server that repeats the credentials it was sent.
        leak = f"bad token {request.headers['Authorization']}"
        code = int(request.match_info["code"])
        text = json.dumps({"detail": leak}) if code != 200 else f"<p>not JSON: {leak}</p>"
        return web.Response(status=code, text=text, content_type="application/json")

    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/code/{code}", echo_auth)
    app.router.add_get("/hang", hang)
    url = await serve(app)
    errors: list[BaseException] = []
    with structlog.testing.capture_logs() as logs:
        async with make_client(url, clock, attempts=2, timeout=0.2) as client:
            for path in ("/code/401", "/code/404", "/code/500", "/code/429", "/code/200",
                         "/hang"):
                try:
                    await client.get_json(path)
                except SourceError as exc:
                    errors.append(exc)
    assert len(errors) == 6
    assert logs  # the retries were logged
    for error in errors:
        rendered = "".join(traceback.format_exception(error))  # causes included
        assert TOKEN not in rendered
        assert TOKEN not in repr(error)
        assert TOKEN not in repr(error.__dict__)
    assert TOKEN not in repr(logs)
    assert TOKEN not in repr(client)
    assert "***" in str(errors[0])
