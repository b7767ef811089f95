"""The dead-man's switch: tell an outside service, after each sweep, that the monitor lives.

Services such as healthchecks.io, Cronitor or Uptime Kuma expect a ping at a steady
pace and alert when it stops; that is how the monitor's own death (crash, hung host,
lost network) is noticed by something that is not the monitor. After each sweep the
daemon calls :meth:`Heartbeat.report`: a healthy one (the sweep succeeded and no source
is failing) pings ``heartbeat.url``, a failed one pings ``heartbeat.fail_url``
(``url`` + ``/fail``, healthchecks.io's convention), with a one-line summary as body.

A ping never holds up a sweep: ``report`` only records the latest verdict and wakes a
background task, which sends it with a bounded timeout. Verdicts that arrive while a
ping is in flight are coalesced into the newest one. A failing ping service is logged
once when it starts failing and once when it recovers; the URLs (they identify the
check, so whoever holds one can forge pings) never reach a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp
import structlog

from monitor.config import HeartbeatConfig

log = structlog.get_logger(__name__)

#: The longest summary sent as a ping's body.
MAX_SUMMARY = 1000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one ping says: healthy or not, and a short summary."""

    healthy: bool
    summary: str


class Heartbeat:
    """Pings the configured URLs in the background; see the module docstring."""

    def __init__(self, config: HeartbeatConfig) -> None:
        self._config = config
        self._pending: Verdict | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._failing = False
        self.sent = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"Heartbeat(timeout={self._config.timeout.total_seconds():g}s)"

    def report(self, healthy: bool, summary: str) -> None:
        """Queue a ping for the latest sweep and return at once."""
        self._pending = Verdict(healthy, summary[:MAX_SUMMARY])
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send_pending(), name="heartbeat")

    async def settle(self) -> None:
        """Wait until every reported verdict has been sent (or has failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Let the last ping finish within its timeout, then release the HTTP session."""
        if self._task is not None and not self._task.done():
            timeout = self._config.timeout.total_seconds()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send_pending(self) -> None:
        while self._pending is not None:
            verdict, self._pending = self._pending, None
            await self._ping(verdict)

    async def _ping(self, verdict: Verdict) -> None:
        url = self._config.success_url() if verdict.healthy else self._config.failure_url()
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._config.timeout.total_seconds())
            )
        problem: str | None = None
        try:
            async with self._session.post(
                url,
                data=verdict.summary.encode("utf-8"),
                headers={"Content-Type": "text/plain; charset=utf-8"},
                allow_redirects=False,
            ) as response:
                await response.read()
                if response.status >= 300:
                    problem = f"HTTP {response.status}"
        except TimeoutError:
            problem = f"no answer within {self._config.timeout.total_seconds():g}s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # Only the class name: the messages of some of these quote the URL.
            problem = exc.__class__.__name__
        if problem is None:
            self.sent += 1
            if self._failing:
                log.info("heartbeat.recovered")
            self._failing = False
            return
        self.failed += 1
        if not self._failing:
            log.warning("heartbeat.failing", error=problem, healthy=verdict.healthy)
        self._failing = True


__all__ = ["MAX_SUMMARY", "Heartbeat", "Verdict"]
