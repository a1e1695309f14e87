"""Adaptive concurrency: find the worker count at run time from the API's answers.

Additive increase, multiplicative decrease (as TCP does): every successful answer
adds 1/limit to the number of calls allowed in flight (about one more per round
trip); throttling (or a failed connection) halves it, at most once per cooldown so
one burst of 429s counts as one signal; and an answer whose rate-limit headers show
the quota nearly spent holds it where it is, rather than pushing into the limit.
"""

from __future__ import annotations

import httpx

from strategies.retry import is_throttled, quota_nearly_spent

__all__ = ["AdaptiveLimit"]


class AdaptiveLimit:
    """How many calls may be in flight now; starts at `initial`, never above `ceiling`."""

    def __init__(self, initial: int, ceiling: int, *, cooldown_s: float = 1.0, poll_s: float = 0.05) -> None:
        self.limit = float(max(1, initial))
        self.ceiling = max(ceiling, initial)
        self.cooldown_s = cooldown_s
        self.poll_s = poll_s  # how often a held-back worker looks again
        self.in_flight = 0
        self.peak_limit = self.limit
        self._calm_until = float("-inf")

    def admits(self) -> bool:
        return self.in_flight < int(self.limit)

    def observe(self, response: httpx.Response | None, now: float) -> None:
        """Adjust the limit from one answer (None: the request failed at the transport)."""
        if response is None or is_throttled(response):
            if now >= self._calm_until:
                self.limit = max(1.0, self.limit / 2)
                self._calm_until = now + self.cooldown_s
        elif quota_nearly_spent(response):
            return
        elif response.is_success:
            self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)
            self.peak_limit = max(self.peak_limit, self.limit)
