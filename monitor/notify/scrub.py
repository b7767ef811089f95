"""Scrubbing apprise URLs out of text: what a failure report may quote.

Apprise URLs embed credentials (tokens in the path, passwords, a bot token as a host
name). Before anything apprise says about a failure is quoted in an error or a log
line, :func:`scrub` replaces every fragment of the receiver's URLs with ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote, urlsplit


def _secret_fragments(url: str) -> list[str]:
    """Every piece of ``url`` that could be a credential, longest first.

    The whole URL, its user, password, host, port, each path segment and each query
    value (query keys such as ``from`` or ``mode`` are left alone: they are not secret).
    """
    pieces = {url, url.split("://", 1)[-1]}
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None:
        location = parts.netloc + parts.path
        pieces.update(re.split(r"[/:@,;+]", location))
        for _key, value in parse_qsl(parts.query, keep_blank_values=False):
            pieces.update((value, unquote(value)))
        for part in (parts.username, parts.password, parts.hostname):
            if part:
                pieces.update((part, unquote(part)))
    return sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True)


def scrub(text: str, urls: Sequence[str]) -> str:
    """``text`` with every fragment of ``urls`` replaced by ``***``."""
    for url in urls:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        for fragment in _secret_fragments(url):
            if fragment.lower() == scheme.lower():
                continue
            text = text.replace(fragment, "***")
    return text


__all__ = ["scrub"]
