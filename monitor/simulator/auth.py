"""The bearer-token check shared by the simulated vendor APIs.

Each vendor answers a missing or wrong token with its own error body; what counts as
presenting the token (an ``Authorization: Bearer <token>`` header, compared in constant
time) is the same for all of them.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import SecretStr


def presented_token(request: web.Request) -> str | None:
    """The bearer token of ``request``, or None when it presents none."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not presented.strip():
        return None
    return presented.strip()


def token_matches(presented: str, token: SecretStr) -> bool:
    """Whether ``presented`` is ``token`` (a constant-time comparison)."""
    return hmac.compare_digest(presented.encode(), token.get_secret_value().encode())
