"""Rate-limit algorithms of the simulated API: each keeps its promise, alone and combined."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api.ratelimit import (
    Decision,
    FixedWindow,
    Limiter,
    SlidingWindow,
    TokenBucket,
    build_limiter,
)
from bench.scenario.model import RateLimit

ALGORITHMS = ("fixed-window", "sliding-window", "token-bucket")
#: enough examples to find edge cases, few enough to keep the whole file in a few seconds
quick = settings(max_examples=40, deadline=None)

# -- generators ------------------------------------------------------------------------

gaps = st.one_of(st.just(0.0), st.floats(0.0, 3.0, allow_nan=False, allow_infinity=False))
#: non-decreasing arrival times, with bursts of simultaneous requests
arrivals = st.lists(gaps, min_size=1, max_size=100).map(lambda g: list(accumulate(g)))
limits = st.integers(1, 8)
windows = st.sampled_from([0.25, 0.5, 1.0, 2.5, 10.0])


def _admitted(algorithm: FixedWindow | SlidingWindow | TokenBucket, times: list[float], key: str = "k") -> list[float]:
    return [t for t in times if algorithm.admit(key, t).admitted]


class _ReferenceFixedWindow:
    """The FixedWindow that shipped results were measured with, verbatim."""

    def __init__(self, limit: int, window_s: float, count_rejected: bool = False) -> None:
        self.limit = limit
        self.window_s = window_s
        self.count_rejected = count_rejected
        self._windows: dict[str, tuple[int, int]] = {}

    def admit(self, key: str, t: float) -> Decision:
        index = math.floor(t / self.window_s)
        current, used = self._windows.get(key, (index, 0))
        if current != index:
            used = 0
        admitted = used < self.limit
        if admitted or self.count_rejected:
            used += 1
        self._windows[key] = (index, used)
        reset = (index + 1) * self.window_s - t
        return Decision(admitted, self.limit, max(0, self.limit - used), reset)


# -- each algorithm alone --------------------------------------------------------------


@given(arrivals, limits, windows, st.booleans())
@quick
def test_fixed_window_never_exceeds_limit_per_aligned_window(times, limit, window, count_rejected):
    fw = FixedWindow(limit, window, count_rejected)
    decisions = [(t, fw.admit("k", t)) for t in times]
    per_window = Counter(math.floor(t / window) for t, d in decisions if d.admitted)
    assert max(per_window.values(), default=0) <= limit
    if not count_rejected:  # and it rejects only a full window
        for t, d in decisions:
            if not d.admitted:
                assert per_window[math.floor(t / window)] == limit


@given(arrivals, limits, windows, st.booleans(), st.sampled_from(["account", "key", "global"]))
@quick
def test_single_fixed_window_limiter_matches_shipped_fixed_window(times, limit, window, count_rejected, scope):
    """A scenario with one fixed-window limit gets exactly the decisions it always got."""
    reference = _ReferenceFixedWindow(limit, window, count_rejected)
    limiter = build_limiter([RateLimit(scope=scope, limit=limit, window_s=window, count_rejected=count_rejected)])
    keys = {"account": "acc-1", "key": "token", "global": "all"}
    for t in times:
        ours, theirs = limiter.admit(keys, t), reference.admit(keys[scope], t)
        assert (ours.admitted, ours.limit, ours.remaining, ours.reset_s) == (
            theirs.admitted,
            theirs.limit,
            theirs.remaining,
            theirs.reset_s,
        )
        assert ours.window_s == window


@given(arrivals, limits, windows)
@quick
def test_sliding_window_never_exceeds_limit_in_any_interval(times, limit, window):
    sw = SlidingWindow(limit, window)
    decisions = [(t, sw.admit("k", t)) for t in times]
    admitted = [t for t, d in decisions if d.admitted]
    # any interval [a, a + window) holds at most `limit` admitted requests
    for i in range(len(admitted) - limit):
        assert admitted[i + limit] - admitted[i] >= window
    # and it rejects only when the last `window` seconds are full
    for t, d in decisions:
        if not d.admitted:
            assert sum(1 for s in admitted if s <= t and t - s < window) == limit
            assert 0 < d.reset_s <= window + 1e-9


@given(arrivals, limits, windows, st.booleans())
@quick
def test_sliding_window_counting_rejected_still_bounds_admitted(times, limit, window, count_rejected):
    admitted = _admitted(SlidingWindow(limit, window, count_rejected), times)
    for i in range(len(admitted) - limit):
        assert admitted[i + limit] - admitted[i] >= window


@given(arrivals, limits, windows, st.one_of(st.none(), st.integers(1, 12)), st.booleans())
@quick
def test_token_bucket_admits_at_most_burst_plus_refill(times, limit, window, burst, count_rejected):
    capacity = burst if burst is not None else limit
    admitted = _admitted(TokenBucket(limit, window, burst, count_rejected), times)
    for i, a in enumerate(admitted):
        for j in range(i, len(admitted)):
            b = admitted[j]
            assert j - i + 1 <= capacity + limit * (b - a) / window + 1e-9


@given(arrivals, limits, windows, st.one_of(st.none(), st.integers(1, 12)))
@quick
def test_token_bucket_rejects_only_without_a_whole_token(times, limit, window, burst):
    """Exact accounting: tokens = min(capacity, previous + refill) - 1 per admission."""
    capacity = burst if burst is not None else limit
    tb = TokenBucket(limit, window, burst)
    tokens, last = float(capacity), times[0]
    for t in times:
        tokens = min(capacity, tokens + (t - last) * limit / window)
        last = t
        decision = tb.admit("k", t)
        assert decision.admitted == (tokens >= 1.0)
        if decision.admitted:
            tokens -= 1.0
        else:
            assert decision.reset_s == pytest.approx((1.0 - tokens) * window / limit)
        assert decision.limit == capacity


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(times=arrivals, limit=limits, window=windows)
@settings(max_examples=30, deadline=None)
def test_retrying_after_reset_is_admitted(algorithm, times, limit, window):
    """A rejected client that waits `reset_s` (plus a hair) gets in, if nobody else came meanwhile."""
    for t in times:
        limiter = build_limiter([RateLimit(algorithm=algorithm, limit=limit, window_s=window)])
        for s in times:
            if s > t:
                break
            decision = limiter.admit({"account": "a"}, s)
        if not decision.admitted:
            assert limiter.admit({"account": "a"}, t + decision.reset_s + 1e-6).admitted


# -- several limits at once ------------------------------------------------------------

#: (time gap, which key) of requests from two API keys of one account
two_key_requests = st.lists(
    st.tuples(st.one_of(st.just(0.0), st.floats(0.0, 2.0, allow_nan=False)), st.sampled_from(["key-a", "key-b"])),
    min_size=1,
    max_size=120,
)


def _timed(requests: list[tuple[float, str]]) -> list[tuple[float, str]]:
    times = accumulate(gap for gap, _ in requests)
    return [(t, key) for t, (_, key) in zip(times, requests, strict=True)]


def _within(admitted: list[float], limit: int, window: float, algorithm: str) -> bool:
    if algorithm == "fixed-window":
        return max(Counter(math.floor(t / window) for t in admitted).values(), default=0) <= limit
    if algorithm == "sliding-window":
        return all(admitted[i + limit] - admitted[i] >= window for i in range(len(admitted) - limit))
    return all(
        j - i + 1 <= limit + limit * (admitted[j] - admitted[i]) / window + 1e-9
        for i in range(len(admitted))
        for j in range(i, len(admitted))
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(requests=two_key_requests)
@settings(max_examples=25, deadline=None)
def test_composite_respects_per_key_and_per_account_limits(algorithm, requests):
    limiter = build_limiter(
        [
            RateLimit(algorithm=algorithm, scope="key", limit=15, window_s=10),
            RateLimit(algorithm=algorithm, scope="account", limit=20, window_s=10),
        ]
    )
    admitted: list[tuple[float, str]] = []
    for t, key in _timed(requests):
        if limiter.admit({"account": "acc-1", "key": key, "global": "all"}, t).admitted:
            admitted.append((t, key))
    assert _within([t for t, _ in admitted], 20, 10, algorithm)
    for key in ("key-a", "key-b"):
        assert _within([t for t, k in admitted if k == key], 15, 10, algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(requests=two_key_requests, probes=two_key_requests)
@settings(max_examples=25, deadline=None)
def test_rejected_requests_leave_no_trace(algorithm, requests, probes):
    """Without count_rejected, a limiter that saw every request is in the same state as one
    that saw only the admitted ones: rejections consume no limit's quota."""
    specs = [
        RateLimit(algorithm=algorithm, scope="key", limit=15, window_s=10),
        RateLimit(algorithm=algorithm, scope="account", limit=20, window_s=10),
    ]
    everything, only_admitted = build_limiter(specs), build_limiter(specs)
    timed = _timed(requests)
    for t, key in timed:
        keys = {"account": "acc-1", "key": key}
        if everything.admit(keys, t).admitted:
            assert only_admitted.admit(keys, t).admitted
    end = timed[-1][0]
    for t, key in _timed(probes):
        keys = {"account": "acc-1", "key": key}
        assert everything.admit(keys, end + t) == only_admitted.admit(keys, end + t)


def test_key_limit_rejection_leaves_account_quota_for_the_other_key():
    limiter = build_limiter(
        [
            RateLimit(scope="key", limit=15, window_s=10),
            RateLimit(scope="account", limit=20, window_s=10),
        ]
    )
    a, b = {"account": "acc-1", "key": "key-a"}, {"account": "acc-1", "key": "key-b"}
    results = [limiter.admit(a, 0.1 * i).admitted for i in range(25)]
    assert results == [True] * 15 + [False] * 10
    assert [limiter.admit(b, 3.0).admitted for _ in range(6)] == [True] * 5 + [False]


def test_count_rejected_limit_is_charged_even_when_another_limit_rejects():
    limiter = build_limiter(
        [
            RateLimit(scope="key", limit=2, window_s=10),
            RateLimit(scope="account", limit=5, window_s=10, count_rejected=True),
        ]
    )
    a, b = {"account": "acc-1", "key": "key-a"}, {"account": "acc-1", "key": "key-b"}
    assert [limiter.admit(a, 0.0).admitted for _ in range(4)] == [True, True, False, False]
    # the account saw 4 requests: one more fits
    assert [limiter.admit(b, 1.0).admitted for _ in range(2)] == [True, False]


def test_rejection_reports_the_rejecting_limit_with_the_longest_reset():
    limiter = Limiter(
        [
            ("key", FixedWindow(1, 1.0)),  # rejects, resets in 0.5 s
            ("account", FixedWindow(100, 60.0)),  # admits, resets in 59.5 s: not the reason
            ("global", SlidingWindow(1, 30.0)),  # rejects, oldest leaves in 30 s
        ]
    )
    keys = {"account": "acc", "key": "k", "global": "all"}
    assert limiter.admit(keys, 0.0).admitted
    decision = limiter.admit(keys, 0.5)
    assert not decision.admitted
    assert (decision.limit, decision.remaining, decision.window_s) == (1, 0, 30.0)
    assert decision.reset_s == pytest.approx(29.5)


def test_admission_reports_the_limit_with_least_remaining():
    limiter = Limiter([("key", FixedWindow(15, 10.0)), ("account", SlidingWindow(20, 10.0))])
    a, b = {"account": "acc", "key": "a"}, {"account": "acc", "key": "b"}
    for i in range(10):
        limiter.admit(a, i * 0.1)
    first_b = limiter.admit(b, 1.0)  # key b: 14 left; account: 9 left
    assert (first_b.limit, first_b.remaining, first_b.window_s) == (20, 9, 10.0)
    fourteenth_a = [limiter.admit(a, 1.0) for _ in range(4)][-1]  # key a: 1 left; account: 5 left
    assert (fourteenth_a.limit, fourteenth_a.remaining) == (15, 1)


def test_no_limits_admit_everything():
    limiter = build_limiter([RateLimit(algorithm="none")])
    decision = limiter.admit({"account": "a", "key": "k", "global": "all"}, 0.0)
    assert decision.admitted and decision.limit == 0


def test_limits_are_kept_per_key_value():
    limiter = build_limiter([RateLimit(algorithm="sliding-window", scope="account", limit=1, window_s=5)])
    assert limiter.admit({"account": "a"}, 0.0).admitted
    assert limiter.admit({"account": "b"}, 0.0).admitted
    assert not limiter.admit({"account": "a"}, 1.0).admitted


@dataclass
class _Spec:
    algorithm: str = "leaky-bucket"
    scope: str = "account"
    limit: int = 1
    window_s: float = 1.0
    burst: int | None = None
    count_rejected: bool = False


def test_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match="leaky-bucket"):
        build_limiter([_Spec()])


def test_admit_is_fast_enough_for_every_request():
    limiter = build_limiter(
        [
            RateLimit(algorithm="sliding-window", scope="key", limit=50, window_s=1),
            RateLimit(algorithm="token-bucket", scope="account", limit=40, window_s=1, burst=80),
            RateLimit(algorithm="fixed-window", scope="global", limit=1000, window_s=60),
        ]
    )
    keys = [{"account": f"acc-{i % 7}", "key": f"key-{i % 13}", "global": "all"} for i in range(13 * 7)]
    for i in range(50_000):  # a few hundred milliseconds at O(1) per request
        limiter.admit(keys[i % len(keys)], i * 0.001)
