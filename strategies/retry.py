"""Retry of throttled and failed requests: a pure backoff formula and a policy that reads responses.

Shaped like stamina (keyword-only settings, the backoff as a pure function, a hook
that may supply the wait itself, as `Retry-After` does), but it only computes the
wait: the driver sleeps through the clock, so virtual time stays deterministic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RetryPolicy", "backoff", "is_throttled", "retry_after_s"]

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


def backoff(attempt: int, *, wait_initial: float, wait_max: float, wait_exp_base: float, jitter: float) -> float:
    """Wait before retry number `attempt` (1-based), before jitter: initial * base**(attempt-1), capped."""
    return min(wait_max, wait_initial * wait_exp_base ** (attempt - 1)) + jitter


def is_throttled(response: httpx.Response) -> bool:
    """Whether the server said "slow down"."""
    return response.status_code == 429


def retry_after_s(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds, given as seconds or as an HTTP date (measured from the
    response's own `Date`, so a skewed client clock does not matter)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
        now = parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    attempts: int = 6
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_exp_base: float = 2.0
    wait_jitter: float = 0.25

    def wait_for(self, attempt: int, response: httpx.Response | None, rng: random.Random) -> float | None:
        """Seconds to wait before trying again after `attempt`, or None to stop retrying.

        `response` is None when the request failed at the transport level.
        """
        if attempt >= self.attempts:
            return None
        if response is not None and not (is_throttled(response) or response.status_code in RETRYABLE_STATUS):
            return None
        jitter = rng.uniform(0, self.wait_jitter)
        told = retry_after_s(response) if response is not None else None
        if told is not None:
            return told + jitter
        return backoff(
            attempt,
            wait_initial=self.wait_initial,
            wait_max=self.wait_max,
            wait_exp_base=self.wait_exp_base,
            jitter=jitter,
        )
