"""The whole retry matrix: every shipped scenario x strategy x fan-out x 1..50 workers under the default policy.

Runs only when selected (`pytest tests/benchmarks`, see conftest.py): a few minutes of host time.
"""

from __future__ import annotations

import pytest

from bench.scenario.model import shipped_scenarios
from strategies import available
from tests.strategies.retry_matrix import Point, errors, points


@pytest.mark.parametrize(
    "point", points(list(shipped_scenarios()), list(available())), ids=lambda p: "-".join(map(str, p))
)
def test_the_default_retry_policy_carries_every_point(point: Point) -> None:
    assert errors(point) == []
