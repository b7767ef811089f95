"""The tenant-wide hour as the vendor's rate-limit headers tell it.

Kandji's 10,000 requests an hour belong to the tenant: every integration spends from
them. Kong keeps a fixed window aligned on the clock's hours and says, on every answer,
how much of it the tenant has left (``X-Ratelimit-Remaining-Hour``). What the tenant
spent beyond this monitor's own requests is the others' spending. :class:`TenantView`
keeps, per answer, that cumulative spending of the others in the current window and
projects their rate from *successive* readings (the remaining count falls faster than
this monitor's own requests explain): over the last :attr:`TenantView.RATE_HORIZON`
seconds once the readings span :attr:`TenantView.RATE_SPAN`. Before that, the window's
average since it began stands (after a restart it also counts this monitor's earlier
requests as others': too high, on the safe side), or the last window's rate in a window
younger than a span. With none of these (the first minute of a first window) the rate
is unknown, and :meth:`TenantView.measured` says so: the budget then spaces its
requests so what the tenant has left would last until the reset, rather than spend it
at full speed before it knows who else spends.

Requests of this monitor still in flight when an answer is read may not have reached
the gateway yet; they are counted as not counted, so an in-flight request never makes
the others' spending look smaller than it is.
"""

from __future__ import annotations

import math
from collections import deque

from monitor.clock import Clock

HOUR = 3600.0


class TenantView:
    """What the tenant has left of its hour, and how fast the other integrations spend.

    ``remaining`` is what the last answer said the tenant had left, ``observed_at``
    (monotonic) when, and ``own_at`` how many requests this monitor had been granted
    by then; ``others_rate`` (requests per second) is the others' projected rate.
    """

    RATE_SPAN = 60.0
    """Seconds of readings (or of the window) before a rate is taken from them."""
    RATE_HORIZON = 900.0
    """The rate is the others' spending over at most this many seconds of readings."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.limit: int | None = None
        self.remaining: int | None = None
        self.observed_at = 0.0
        self.own_at = 0
        self.hour = -1
        self.others_rate = 0.0
        self._known = False
        self._prior: float | None = None  # the last window's rate
        self._readings: deque[tuple[float, int]] = deque()  # (monotonic, others so far)

    def seconds_into_window(self) -> float:
        """Seconds since the tenant's hour window began."""
        return self._clock.now().timestamp() % HOUR

    def seconds_to_reset(self) -> float:
        """Seconds until the tenant's hour window resets."""
        return HOUR - self.seconds_into_window()

    def hour_now(self) -> int:
        """The clock hour the tenant's window is in."""
        return math.floor(self._clock.now().timestamp() // HOUR)

    def measured(self) -> bool:
        """Whether the others' rate is known (see the module doc)."""
        return self._known

    def observe(self, limit: int, remaining: int, own_total: int, own_counted: int) -> None:
        """Take one answer's numbers: ``own_total`` is this monitor's granted requests
        so far, ``own_counted`` those of the current clock hour the gateway has surely
        counted (granted this hour, less those still in flight)."""
        hour = self.hour_now()
        if (
            hour == self.hour + 1
            and self.remaining is not None
            and remaining <= self.remaining
            and self.seconds_into_window() < self.RATE_SPAN
        ):
            # Just after the reset, an answer no higher than the last window's last one
            # is that window's, arriving late: taken as the new window's, it would hide
            # the whole new window (every later answer looks "older", being higher).
            return
        if hour != self.hour:
            if self._known:
                self._prior = self.others_rate
            self._readings.clear()
        elif self.remaining is not None and remaining > self.remaining:
            return  # an older answer arriving late (concurrent requests): not news
        now = self._clock.monotonic()
        others = max(0, (limit - remaining) - own_counted)
        readings = self._readings
        readings.append((now, others))
        while len(readings) > 2 and readings[1][0] <= now - self.RATE_HORIZON:
            readings.popleft()
        span = now - readings[0][0]
        into = self.seconds_into_window()
        if span >= self.RATE_SPAN:
            self.others_rate, self._known = max(0, others - readings[0][1]) / span, True
        elif into >= self.RATE_SPAN:
            average = others / into
            self.others_rate = average if self._prior is None else max(average, self._prior)
            self._known = True
        elif self._prior is not None:
            self.others_rate, self._known = self._prior, True
        else:
            self.others_rate, self._known = 0.0, False
        self.limit, self.remaining = limit, remaining
        self.observed_at, self.own_at, self.hour = now, own_total, hour

    def current_remaining(self, own_total: int) -> int | None:
        """What the tenant has left now, by the last answer, our requests since and the
        others' estimated spending since; None before any answer."""
        if self.remaining is None or self.limit is None:
            return None
        if self.hour_now() != self.hour:
            return self.limit  # a new window: the last answer is history
        since = self._clock.monotonic() - self.observed_at
        guess = self.remaining - (own_total - self.own_at) - self.others_rate * since
        return max(0, math.floor(guess))

    def fresh_per_hour(self, reserve_fraction: float) -> float:
        """What a new window leaves this monitor an hour: the limit less the others'
        projected spending and the reserve (0 before any answer)."""
        if self.limit is None:
            return 0.0
        return max(0.0, self.limit * (1.0 - reserve_fraction) - self.others_rate * HOUR)

    def headroom(self, own_total: int, reserve_fraction: float) -> int | None:
        """What this monitor may still spend before the reset without eating into the
        others' expected spending or the reserve; None before any answer."""
        left = self.current_remaining(own_total)
        if left is None or self.limit is None:
            return None
        others_until_reset = self.others_rate * self.seconds_to_reset()
        reserve = math.ceil(self.limit * reserve_fraction)
        return math.floor(left - others_until_reset - reserve)


__all__ = ["HOUR", "TenantView"]
