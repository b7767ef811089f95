"""A tiny simulated Acme API on loopback: a paged machine list behind a bearer token.

``GET /v2/machines?page=N`` answers ``{"machines": [...], "next": N + 1 | null}``; each
machine is ``{"id", "hostname", "serial", "os", "encrypted", "seen"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PAGE_SIZE = 2


@dataclass
class AcmeFleet:
    """The machines the simulated API reports, and how many requests it answered."""

    token: str
    machines: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0


def make_app(fleet: AcmeFleet) -> web.Application:
    """The aiohttp app of the simulated Acme API."""

    async def machines(request: web.Request) -> web.Response:
        fleet.requests += 1
        if request.headers.get("Authorization") != f"Bearer {fleet.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        page = int(request.query.get("page", "0"))
        rows = fleet.machines[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        more = (page + 1) * PAGE_SIZE < len(fleet.machines)
        return web.json_response({"machines": rows, "next": page + 1 if more else None})

    app = web.Application()
    app.router.add_get("/v2/machines", machines)
    return app
