"""The request windows of a simulated API and the Kong rate-limit headers it answers with.

Kandji's hourly budget belongs to the tenant, not to one token: every integration of
the tenant (SIEM connectors, scripts, other monitors) spends from the same 10,000
requests an hour. ``rival_per_hour`` simulates those other consumers: they spend that
many requests an hour, evenly over the hour window, whatever the simulated client does,
so the ``X-Ratelimit-Remaining-Hour`` a client reads is what the whole tenant has left.
The rival counts against the hour window only (its share of any one second is small).
"""


from __future__ import annotations

import math

from monitor.clock import Clock


class RateLimiter:
    """Fixed per-second and per-hour windows, as Kong's rate-limiting plugin keeps them.

    ``None`` disables a window. Rejected requests do not consume the budget.
    """

    def __init__(
        self,
        clock: Clock,
        per_second: int | None = 50,
        per_hour: int | None = 10_000,
        rival_per_hour: float = 0.0,
    ):
        self.clock = clock
        self.per_second = per_second
        self.per_hour = per_hour
        self.rival_per_hour = rival_per_hour
        self._second: tuple[int, int] = (-1, 0)  # (window, used)
        self._hour: tuple[int, int] = (-1, 0)
        self.answered = 0  # requests let through
        self.rejected = 0  # requests answered 429

    def rival_used(self, ts: float) -> int:
        """What the other consumers have spent of the hour window holding ``ts``."""
        if self.rival_per_hour <= 0:
            return 0
        into_hour = ts - math.floor(ts // 3600) * 3600
        return math.floor(self.rival_per_hour * into_hour / 3600)

    def _used(self, ts: float) -> tuple[int, int, int, int]:
        second, hour = math.floor(ts), math.floor(ts // 3600)
        used_s = self._second[1] if self._second[0] == second else 0
        used_h = self._hour[1] if self._hour[0] == hour else 0
        return second, used_s, hour, used_h

    def acquire(self) -> tuple[bool, dict[str, str], int]:
        """Take one request from the windows.

        Returns ``(allowed, headers, retry_after_seconds)``; the headers describe the
        windows after this request.
        """
        ts = self.clock.now().timestamp()
        second, used_s, hour, used_h = self._used(ts)
        rival = self.rival_used(ts)
        over_s = self.per_second is not None and used_s >= self.per_second
        over_h = self.per_hour is not None and used_h + rival >= self.per_hour
        allowed = not (over_s or over_h)
        if allowed:
            used_s += 1
            used_h += 1
            self._second = (second, used_s)
            self._hour = (hour, used_h)
            self.answered += 1
        else:
            self.rejected += 1
        reset_s = max(1, math.ceil(second + 1 - ts))
        reset_h = max(1, math.ceil((hour + 1) * 3600 - ts))
        retry_after = reset_h if over_h else reset_s
        headers = self._headers(used_s, used_h + rival, reset_s, reset_h)
        return allowed, headers, retry_after

    def _headers(self, used_s: int, used_h: int, reset_s: int, reset_h: int) -> dict[str, str]:
        headers: dict[str, str] = {}
        windows: list[tuple[int, int, int]] = []  # (remaining, limit, reset)
        if self.per_hour is not None:
            remaining_h = max(0, self.per_hour - used_h)
            headers["X-Ratelimit-Limit-Hour"] = str(self.per_hour)
            headers["X-Ratelimit-Remaining-Hour"] = str(remaining_h)
            windows.append((remaining_h, self.per_hour, reset_h))
        if self.per_second is not None:
            remaining_s = max(0, self.per_second - used_s)
            headers["X-Ratelimit-Limit-Second"] = str(self.per_second)
            headers["X-Ratelimit-Remaining-Second"] = str(remaining_s)
            windows.append((remaining_s, self.per_second, reset_s))
        if windows:
            # Kong's RateLimit-* headers describe the window closest to running out.
            remaining, limit, reset = min(windows, key=lambda w: (w[0], -w[2]))
            headers["Ratelimit-Limit"] = str(limit)
            headers["Ratelimit-Remaining"] = str(remaining)
            headers["Ratelimit-Reset"] = str(reset)
        return dict(sorted(headers.items()))
