"""FixedWindow: at most `limit` admitted requests per key in each window aligned to multiples of window_s."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api.ratelimit import FixedWindow

#: Window lengths that are exact in binary, so "aligned window" has one meaning in float and in exact arithmetic.
WINDOWS = st.sampled_from([0.25, 0.5, 1.0, 2.0, 8.0])
#: Arrival times as a server sees them: non-decreasing simulated seconds.
ARRIVALS = st.lists(st.floats(min_value=0, max_value=40, allow_nan=False), min_size=1, max_size=80).map(sorted)


def aligned_window(t: float, window_s: float) -> int:
    """The index k of the window [k * window_s, (k + 1) * window_s) holding t, in exact arithmetic."""
    return math.floor(Fraction(t) / Fraction(window_s))


@settings(max_examples=150, deadline=None)
@given(arrivals=ARRIVALS, limit=st.integers(1, 6), window_s=WINDOWS, count_rejected=st.booleans())
def test_never_more_than_limit_admitted_per_window(
    arrivals: list[float], limit: int, window_s: float, count_rejected: bool
) -> None:
    """No aligned window ever holds more than `limit` admitted requests of one key."""
    limiter = FixedWindow(limit, window_s, count_rejected)
    admitted = Counter(aligned_window(t, window_s) for t in arrivals if limiter.admit("acct", t).admitted)
    assert all(n <= limit for n in admitted.values()), admitted


@settings(max_examples=150, deadline=None)
@given(arrivals=ARRIVALS, limit=st.integers(1, 6), window_s=WINDOWS)
def test_admits_exactly_the_first_limit_requests_of_each_window(
    arrivals: list[float], limit: int, window_s: float
) -> None:
    """Within each window the first `limit` arrivals are admitted and every later one is rejected."""
    limiter = FixedWindow(limit, window_s)
    seen: Counter[int] = Counter()
    for t in arrivals:
        window = aligned_window(t, window_s)
        seen[window] += 1
        assert limiter.admit("acct", t).admitted == (seen[window] <= limit), (t, window, seen[window])


def test_remaining_counts_down_to_zero() -> None:
    """`remaining` drops by one per admitted request and stays 0 once the window is used up."""
    limiter = FixedWindow(3, 1.0)
    decisions = [limiter.admit("k", 0.1 * i) for i in range(5)]
    assert [d.admitted for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert all(d.limit == 3 for d in decisions)


def test_rejected_requests_do_not_use_quota_of_the_next_window() -> None:
    """After a window full of rejections the next window starts with its whole quota."""
    for count_rejected in (False, True):
        limiter = FixedWindow(2, 1.0, count_rejected=count_rejected)
        first = [limiter.admit("k", 0.5).admitted for _ in range(6)]
        second = [limiter.admit("k", 1.0).admitted for _ in range(3)]
        assert first == [True, True, False, False, False, False], count_rejected
        assert second == [True, True, False], count_rejected


@settings(max_examples=100, deadline=None)
@given(arrivals=ARRIVALS, limit=st.integers(1, 6), window_s=WINDOWS)
def test_count_rejected_does_not_change_fixed_window_admissions(
    arrivals: list[float], limit: int, window_s: float
) -> None:
    """In a fixed window a rejection only happens once the quota is gone, so counting it changes no answer."""
    plain, counting = FixedWindow(limit, window_s), FixedWindow(limit, window_s, count_rejected=True)
    for t in arrivals:
        a, b = plain.admit("k", t), counting.admit("k", t)
        assert (a.admitted, a.remaining) == (b.admitted, b.remaining)


def test_count_rejected_keeps_remaining_at_zero() -> None:
    """With count_rejected, rejected requests never drive `remaining` below zero."""
    limiter = FixedWindow(1, 1.0, count_rejected=True)
    decisions = [limiter.admit("k", 0.0) for _ in range(4)]
    assert [d.admitted for d in decisions] == [True, False, False, False]
    assert [d.remaining for d in decisions] == [0, 0, 0, 0]


def test_reset_is_the_time_to_the_next_window_boundary() -> None:
    """reset_s is the time from t to the end of t's aligned window."""
    assert FixedWindow(5, 1.0).admit("k", 2.25).reset_s == 0.75
    assert FixedWindow(5, 1.0).admit("k", 2.0).reset_s == 1.0
    assert FixedWindow(5, 10.0).admit("k", 15.0).reset_s == 5.0
    assert FixedWindow(5, 10.0).admit("k", 0.0).reset_s == 10.0


def test_reset_of_a_rejection_points_at_the_next_window() -> None:
    """A rejected request is told to come back exactly when its window ends, and that retry is admitted."""
    limiter = FixedWindow(1, 4.0)
    assert limiter.admit("k", 5.0).admitted
    rejected = limiter.admit("k", 6.5)
    assert not rejected.admitted and rejected.reset_s == 1.5
    assert limiter.admit("k", 6.5 + rejected.reset_s).admitted


def test_keys_are_independent() -> None:
    """Using up one key's quota leaves another key's quota untouched."""
    limiter = FixedWindow(2, 1.0)
    assert [limiter.admit("account:a", 0.1).admitted for _ in range(3)] == [True, True, False]
    assert [limiter.admit("account:b", 0.2).admitted for _ in range(3)] == [True, True, False]
    assert limiter.admit("account:b", 0.3).remaining == 0
    assert limiter.admit("account:c", 0.3).remaining == 1


@settings(max_examples=75, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.floats(min_value=0, max_value=20, allow_nan=False), st.sampled_from("abc")), max_size=60
    ).map(sorted),
    limit=st.integers(1, 4),
)
def test_interleaved_keys_get_the_answers_they_would_get_alone(arrivals: list[tuple[float, str]], limit: int) -> None:
    """A key's decisions are the same whether or not other keys' requests are interleaved."""
    shared = FixedWindow(limit, 1.0)
    together = [(key, shared.admit(key, t).admitted) for t, key in arrivals]
    for key in "abc":
        alone = FixedWindow(limit, 1.0)
        expected = [alone.admit(key, t).admitted for t, k in arrivals if k == key]
        assert [ok for k, ok in together if k == key] == expected
