"""Adaptive concurrency: additive increase, multiplicative decrease, from the API's own answers."""

from __future__ import annotations

import httpx
import pytest

from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from strategies import Options
from strategies.adaptive import AdaptiveLimit

OK = httpx.Response(200, request=httpx.Request("GET", "http://api/x"))
THROTTLED = httpx.Response(429, headers={"retry-after": "1"}, request=httpx.Request("GET", "http://api/x"))
NEARLY_SPENT = httpx.Response(
    200,
    headers={"x-ratelimit-limit": "100", "x-ratelimit-remaining": "3"},
    request=httpx.Request("GET", "http://api/x"),
)


def test_successes_add_about_one_call_per_round_trip() -> None:
    """`limit` successes in a row raise the limit by about one."""
    gate = AdaptiveLimit(4, 64)
    for _ in range(4):
        gate.observe(OK, now=0.0)
    assert 4.8 < gate.limit < 5.0


@pytest.mark.parametrize("signal", [THROTTLED, None], ids=["429", "transport-error"])
def test_a_slow_down_signal_halves_the_limit_once_per_cooldown(signal: httpx.Response | None) -> None:
    """A burst of slow-down signals within the cooldown counts once; after it, again."""
    gate = AdaptiveLimit(16, 64, cooldown_s=1.0)
    for t in (0.0, 0.1, 0.5):
        gate.observe(signal, now=t)
    assert gate.limit == 8
    gate.observe(signal, now=1.2)
    assert gate.limit == 4


def test_quota_nearly_spent_holds_the_limit() -> None:
    """Headers showing 97% of the quota used stop the increase without cutting back."""
    gate = AdaptiveLimit(8, 64)
    for _ in range(20):
        gate.observe(NEARLY_SPENT, now=0.0)
    assert gate.limit == 8


def test_limit_stays_between_one_and_the_ceiling() -> None:
    """However long the run, the limit never leaves [1, ceiling]."""
    gate = AdaptiveLimit(2, 3)
    for t in range(10):
        gate.observe(THROTTLED, now=float(t * 10))
    assert gate.limit == 1
    for _ in range(100):
        gate.observe(OK, now=200.0)
    assert gate.limit == 3 and not (gate.in_flight < 0)


def test_admits_counts_calls_in_flight() -> None:
    """A limit of 2 admits two calls in flight and holds back a third."""
    gate = AdaptiveLimit(2, 8)
    gate.in_flight = 2
    assert not gate.admits()
    gate.in_flight = 1
    assert gate.admits()


@pytest.mark.parametrize("fanout", ["threads", "async"])
def test_adaptive_comes_within_ten_percent_of_the_best_fixed_count_on_a_long_fan_out(fanout: str) -> None:
    """full-pagination on pms-1000 fans out ~1,000 calls: AIMD from 1 worker finds the limit unaided."""
    scenario = load_scenario("pms-1000")
    fixed = [run(RunSpec(scenario, "full-pagination", fanout, Options(workers=w))).rows[0] for w in (10, 20, 40)]
    best = min(r["makespan_s"] for r in fixed)
    adaptive = run(RunSpec(scenario, "full-pagination", fanout, Options(workers=1, adaptive=True))).rows[0]
    assert adaptive["makespan_s"] <= 1.10 * best
    assert adaptive["options"] == {"adaptive": True}
