"""What a scenario's rate limits allow: the least time for a sync's calls (the lower bound of a row)
and the sustained throughput ceiling (what `recommend` draws), both from one view of a limit."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from bench.scenario.model import RateLimit, Scenario
from bench.transport.trace import TraceEntry

__all__ = ["Ceiling", "min_seconds", "quota_rate", "rate_limit_bound", "rate_limit_ceiling"]


def quota_rate(rl: RateLimit) -> float:
    """The calls per second one quota of the limit sustains."""
    return rl.limit / rl.window_s


def min_seconds(rl: RateLimit, calls: int) -> float:
    """The least time one quota of the limit needs to admit `calls` calls: a token bucket's burst goes at
    once and the rest at its rate; a window admits `limit` calls, and the last window need not pass."""
    if rl.algorithm == "token-bucket":
        return max(0, calls - (rl.burst or rl.limit)) * rl.window_s / rl.limit
    return max(0, math.ceil(calls / rl.limit) - 1) * rl.window_s


def rate_limit_bound(trace: list[TraceEntry], scenario: Scenario) -> float:
    """The least time the scenario's rate limits allow for the calls that were admitted, in the busiest quota."""
    admitted = [e for e in trace if not e.throttled]
    bound = 0.0
    for rl in scenario.rate_limits:
        if rl.algorithm == "none":
            continue
        per_quota = Counter(e.account if rl.scope == "account" else "all" for e in admitted)
        bound = max(bound, min_seconds(rl, max(per_quota.values(), default=0)))
    return bound


@dataclass(frozen=True)
class Ceiling:
    """The throughput the scenario's tightest rate limit allows, in calls per simulated second."""

    calls_per_s: float
    scope: str
    limit: int
    window_s: float


def rate_limit_ceiling(scenario: Scenario, account_workers: int = 1) -> Ceiling | None:
    """The tightest limit's sustained rate; a per-account limit counts once per account synced at once."""
    accounts = min(scenario.dataset.accounts, max(account_workers, 1))
    found = [
        Ceiling(quota_rate(rl) * (accounts if rl.scope == "account" else 1), rl.scope, rl.limit, rl.window_s)
        for rl in scenario.rate_limits
        if rl.algorithm != "none"
    ]
    return min(found, key=lambda c: (c.calls_per_s, c.scope), default=None)
