"""Server-side rate limiters: they decide, at a simulated instant, whether a request is admitted.

Each algorithm keeps its own state per key (the value of its scope: an account, an
API key, or "all") and is driven only by the `t` it is given (simulated seconds since
the scenario start, non-decreasing), so the same requests at the same times always get
the same answers. Every algorithm splits a decision in three steps, so that a composite
`Limiter` can ask every limit first and consume quota only once all of them agree:

- `allows(key, t)`: would a request at `t` be admitted? (no quota consumed)
- `consume(key, t)`: count a request at `t` against the quota
- `status(key, t, admitted)`: the `Decision` to report (limit, remaining, reset)

`admit(key, t)` is the three together for a limiter used on its own.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "Algorithm",
    "Decision",
    "FixedWindow",
    "Limiter",
    "SlidingWindow",
    "TokenBucket",
    "build_limiter",
]


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    limit: int
    remaining: int
    reset_s: float  # seconds until the quota refills (rejected: until a retry can be admitted)
    window_s: float = 0.0  # the binding limit's window, for policy headers (0: no limit)

    @property
    def used(self) -> int:
        """Requests counted against the binding limit's current quota."""
        return max(0, self.limit - self.remaining)


class Algorithm(Protocol):
    limit: int
    window_s: float
    count_rejected: bool

    def allows(self, key: str, t: float) -> bool: ...

    def consume(self, key: str, t: float) -> None: ...

    def status(self, key: str, t: float, admitted: bool) -> Decision: ...

    def admit(self, key: str, t: float) -> Decision: ...


class _Single:
    """`admit` for one algorithm used on its own; rejected requests count only if `count_rejected`."""

    count_rejected: bool

    def allows(self, key: str, t: float) -> bool:
        raise NotImplementedError

    def consume(self, key: str, t: float) -> None:
        raise NotImplementedError

    def status(self, key: str, t: float, admitted: bool) -> Decision:
        raise NotImplementedError

    def admit(self, key: str, t: float) -> Decision:
        admitted = self.allows(key, t)
        if admitted or self.count_rejected:
            self.consume(key, t)
        return self.status(key, t, admitted)


class FixedWindow(_Single):
    """At most `limit` admitted requests per key in each window aligned to multiples of `window_s`."""

    def __init__(self, limit: int, window_s: float, count_rejected: bool = False) -> None:
        self.limit = limit
        self.window_s = window_s
        self.count_rejected = count_rejected
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window index, used)

    def _used(self, key: str, index: int) -> int:
        current, used = self._windows.get(key, (index, 0))
        return used if current == index else 0

    def allows(self, key: str, t: float) -> bool:
        return self._used(key, math.floor(t / self.window_s)) < self.limit

    def consume(self, key: str, t: float) -> None:
        index = math.floor(t / self.window_s)
        self._windows[key] = (index, self._used(key, index) + 1)

    def status(self, key: str, t: float, admitted: bool) -> Decision:
        index = math.floor(t / self.window_s)
        used = self._used(key, index)
        reset = (index + 1) * self.window_s - t
        return Decision(admitted, self.limit, max(0, self.limit - used), reset, self.window_s)


class SlidingWindow(_Single):
    """At most `limit` admitted requests per key in any interval of length `window_s`.

    A request at `t` is admitted when fewer than `limit` logged requests were made at
    `s` with `t - s < window_s`. Only the newest `limit` entries can ever decide that
    (times are non-decreasing), so each key's log is a deque of at most `limit` times:
    O(1) amortised per request, bounded memory, even when rejected requests count.
    """

    def __init__(self, limit: int, window_s: float, count_rejected: bool = False) -> None:
        self.limit = limit
        self.window_s = window_s
        self.count_rejected = count_rejected
        self._logs: dict[str, deque[float]] = {}

    def _log(self, key: str, t: float) -> deque[float]:
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = deque(maxlen=self.limit)
        while log and t - log[0] >= self.window_s:
            log.popleft()  # left the window for good: later requests come at later times
        return log

    def allows(self, key: str, t: float) -> bool:
        return len(self._log(key, t)) < self.limit

    def consume(self, key: str, t: float) -> None:
        self._log(key, t).append(t)

    def status(self, key: str, t: float, admitted: bool) -> Decision:
        log = self._log(key, t)
        reset = log[0] + self.window_s - t if log else 0.0  # when the oldest leaves the window
        return Decision(admitted, self.limit, max(0, self.limit - len(log)), reset, self.window_s)


class TokenBucket(_Single):
    """A bucket of `burst` tokens (default `limit`) per key, refilled continuously at
    `limit` tokens per `window_s`; each request takes one token and needs a whole one.

    A key's bucket starts full. Rejected requests that count (`count_rejected`) take a
    token too and may drive the bucket below zero, so hammering delays the refill.
    `reset_s` is the time until the next whole token (0 when the bucket is full).
    """

    def __init__(self, limit: int, window_s: float, burst: int | None = None, count_rejected: bool = False) -> None:
        self.limit = limit
        self.window_s = window_s
        self.capacity = burst if burst is not None else limit
        self.count_rejected = count_rejected
        self.rate = limit / window_s  # tokens per second
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at time)

    def _tokens(self, key: str, t: float) -> float:
        state = self._buckets.get(key)
        if state is None:
            return float(self.capacity)
        tokens, at = state
        if t <= at:
            return tokens
        return min(float(self.capacity), tokens + (t - at) * self.rate)

    def allows(self, key: str, t: float) -> bool:
        return self._tokens(key, t) >= 1.0

    def consume(self, key: str, t: float) -> None:
        at = self._buckets[key][1] if key in self._buckets else t
        self._buckets[key] = (self._tokens(key, t) - 1.0, max(at, t))

    def status(self, key: str, t: float, admitted: bool) -> Decision:
        tokens = self._tokens(key, t)
        if tokens >= self.capacity:
            reset = 0.0
        elif tokens < 1.0:
            reset = (1.0 - tokens) / self.rate  # until a request can be admitted
        else:
            reset = (math.floor(tokens) + 1 - tokens) / self.rate  # until the next whole token
        remaining = min(self.capacity, max(0, math.floor(tokens)))
        return Decision(admitted, self.capacity, remaining, reset, self.window_s)


_UNLIMITED = Decision(True, 0, 0, 0.0)


class Limiter:
    """Several limits enforced at once, each on the key of its own scope.

    A request is admitted only if every limit allows it. Quota is consumed after all
    limits were asked: on admission by every limit; on rejection only by the limits
    that count rejected requests (`count_rejected`), so a limit that rejects never uses
    up the quota of the others. The returned `Decision` is the binding limit's: on a
    rejection the rejecting limit with the longest reset, on an admission the limit
    with the least remaining (ties: the longer reset, then the first given).
    """

    def __init__(self, limits: Iterable[tuple[str, Algorithm]]) -> None:
        self.limits: tuple[tuple[str, Algorithm], ...] = tuple(limits)  # (scope, algorithm)

    def admit(self, keys: Mapping[str, str], t: float) -> Decision:
        """Decide a request at `t`; `keys` maps each scope ("account", "key", "global") to its key."""
        limits = self.limits
        if not limits:
            return _UNLIMITED
        if len(limits) == 1:
            scope, algorithm = limits[0]
            return algorithm.admit(keys[scope], t)
        allowed = [algorithm.allows(keys[scope], t) for scope, algorithm in limits]
        admitted = all(allowed)
        for scope, algorithm in limits:
            if admitted or algorithm.count_rejected:
                algorithm.consume(keys[scope], t)
        best: Decision | None = None
        for (scope, algorithm), ok in zip(limits, allowed, strict=True):
            if not admitted and ok:
                continue  # only a limit that rejected can explain a rejection
            decision = algorithm.status(keys[scope], t, admitted)
            if best is None:
                best = decision
            elif admitted:
                if (decision.remaining, -decision.reset_s) < (best.remaining, -best.reset_s):
                    best = decision
            elif decision.reset_s > best.reset_s:
                best = decision
        assert best is not None
        return best


class _LimitSpec(Protocol):
    """The fields of `bench.scenario.model.RateLimit` that a limiter needs."""

    @property
    def algorithm(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def window_s(self) -> float: ...
    @property
    def burst(self) -> int | None: ...
    @property
    def count_rejected(self) -> bool: ...


def _algorithm(spec: _LimitSpec) -> Algorithm:
    if spec.algorithm == "fixed-window":
        return FixedWindow(spec.limit, spec.window_s, spec.count_rejected)
    if spec.algorithm == "sliding-window":
        return SlidingWindow(spec.limit, spec.window_s, spec.count_rejected)
    if spec.algorithm == "token-bucket":
        return TokenBucket(spec.limit, spec.window_s, spec.burst, spec.count_rejected)
    raise ValueError(f"unknown rate-limit algorithm {spec.algorithm!r}")


def build_limiter(rate_limits: Iterable[_LimitSpec]) -> Limiter:
    """The composite limiter for a scenario's `rate_limits` (limits with algorithm "none" are left out)."""
    return Limiter((spec.scope, _algorithm(spec)) for spec in rate_limits if spec.algorithm != "none")
