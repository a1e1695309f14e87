"""Host cost of the full stack, and the simulated figures of key runs, for pytest-benchmark's JSON.

`pytest tests/benchmarks --benchmark-json out.json` records, per test, host seconds (the
benchmark's own stats) and in `extra_info` the run's simulated makespan_s, api_calls and
rate_limited, plus requests per host second for the host-cost runs: one file for both.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from bench.world.dataset import generate
from strategies import Options

HOST_COST = [
    pytest.param("sequential", 1, id="sequential"),
    pytest.param("threads", 20, id="threads-x20"),
    pytest.param("async", 20, id="async-x20"),
]

KEY_RUNS = [
    pytest.param("pms-1000", "reservation-early-stop", "threads", 10, id="pms-reservation-early-stop-threads-x10"),
    pytest.param("pms-1000", "reservation-early-stop", "threads", 20, id="pms-reservation-early-stop-threads-x20"),
    pytest.param("pms-1000", "client-filter", "threads", 10, id="pms-client-filter-threads-x10"),
    pytest.param("pms-1000", "since-incremental", "async", 10, id="pms-since-incremental-async-x10"),
    pytest.param("pms-1000", "full-pagination", "threads", 10, id="pms-full-pagination-threads-x10"),
    pytest.param("inbox-second-sync", "since-incremental", "threads", 5, id="inbox-second-sync-since-threads-x5"),
]


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Simulated figures per sync (a timeline scenario has several), flat for the benchmark JSON."""
    out: dict[str, Any] = {}
    for row in rows:
        suffix = "" if len(rows) == 1 else f"_sync{row['sync']}"
        for name in ("makespan_s", "api_calls", "rate_limited", "coverage"):
            out[name + suffix] = row[name]
    return out


@pytest.mark.parametrize(("fanout", "workers"), HOST_COST)
def test_host_cost_client_filter(benchmark: Any, fanout: str, workers: int) -> None:
    """The whole stack (world, simulator, transport, clock, driver, store, metrics) on pms-1000 client-filter."""
    spec = RunSpec(load_scenario("pms-1000"), "client-filter", fanout, Options(workers=workers))
    result = benchmark.pedantic(run, args=(spec,), rounds=5, warmup_rounds=1, iterations=1)
    rows = result.rows
    assert rows[0]["status"] == "ok"
    benchmark.extra_info.update(_figures(rows))
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["requests_per_host_second"] = round(len(result.trace) / stats.stats.mean, 1)


def test_host_cost_world_generation(benchmark: Any) -> None:
    """Generating pms-1000's world alone: the fixed part of every run above, so requests per host second
    there can be read as (generation + requests) and compared with this."""
    scenario = load_scenario("pms-1000")
    world = benchmark.pedantic(generate, args=(scenario,), rounds=5, warmup_rounds=1, iterations=1)
    benchmark.extra_info["conversations"] = sum(1 for _ in world.conversations)


@pytest.mark.parametrize(("scenario", "strategy", "fanout", "workers"), KEY_RUNS)
def test_simulated_figures(benchmark: Any, scenario: str, strategy: str, fanout: str, workers: int) -> None:
    """One timed round per key run; what matters here is the simulated figures in extra_info."""
    spec = RunSpec(load_scenario(scenario), strategy, fanout, Options(workers=workers))
    result = benchmark.pedantic(run, args=(spec,), rounds=1, iterations=1)
    assert all(r["status"] == "ok" for r in result.rows)
    benchmark.extra_info.update(_figures(result.rows))
