"""The default retry policy carries the shipped scenarios: a few representative points of the matrix.

The whole matrix (every scenario, strategy, fan-out and worker count) is
tests/benchmarks/test_retry_matrix.py, or `python -m tests.strategies.retry_matrix`.
"""

from __future__ import annotations

import pytest

from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from strategies import Options
from tests.strategies.retry_matrix import Point, errors

POINTS = [
    Point("inbox-first-sync", "full-pagination", "async", 16),  # the reported failure
    Point("inbox-second-sync", "full-pagination", "threads", 20),
    Point("inbox-first-sync", "reservation-early-stop", "threads", 50),
    Point("pms-1000", "client-filter", "async", 50),
]


@pytest.mark.parametrize("point", POINTS, ids=lambda p: f"{p.scenario}-{p.strategy}-{p.fanout}-{p.workers}")
def test_the_default_retry_policy_carries_the_point(point: Point) -> None:
    assert errors(point) == []


def test_a_row_that_runs_out_of_retries_says_which_budget() -> None:
    spec = RunSpec(load_scenario("inbox-first-sync"), "full-pagination", "async", Options(workers=50, max_retries=0))
    [row] = run(spec).rows
    assert row["status"] == "failed"
    assert "gave up after 1 attempts (HTTP 403), out of attempts (1)" in row["error"]
