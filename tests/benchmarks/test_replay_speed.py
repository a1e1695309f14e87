"""Replaying a 1,000-request recording takes under 2 s of host time, in every fan-out mode.

The time counted is what `syncbench run --cassette` spends: reading the cassette,
building the index, the literal world and the fitted latency model, and the replayed
sync itself on the virtual clock (store and measurement included).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bench.recordings.cassette import load_cassette
from bench.recordings.replay import replay
from strategies import Options
from tests.recordings.test_cassette import record_big

LIMIT_S = 2.0


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_big(tmp_path_factory.mktemp("big-recording"))


def _replay(cassette: Path, fanout: str) -> dict[str, Any]:
    return replay(load_cassette(cassette), "full-pagination", fanout, Options(workers=20))[0].rows[0]


@pytest.mark.parametrize("fanout", ["sequential", "threads", "async"])
def test_replay_of_1000_requests_is_under_2_s(benchmark: Any, big: Path, fanout: str) -> None:
    began = time.perf_counter()
    row = _replay(big, fanout)
    first = time.perf_counter() - began  # the first replay in this process, imports and caches cold
    assert row["status"] == "ok" and row["api_calls"] == 1001 and row["coverage"] == 1.0
    row = benchmark.pedantic(_replay, args=(big, fanout), rounds=3, iterations=1)
    stats = getattr(benchmark, "stats", None)
    slowest = stats.stats.max if stats is not None else first  # None under --benchmark-disable
    benchmark.extra_info.update(requests=row["api_calls"], first_s=round(first, 3))
    assert max(first, slowest) < LIMIT_S, f"replaying 1,001 requests took {max(first, slowest):.2f} s"
