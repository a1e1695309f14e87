"""The harness's own cost next to plain httpx: `syncbench selftest --overhead`'s target, as a benchmark.

Each mode's ratio (full-stack over plain-httpx requests per host second, the median of
paired runs) must be at least 0.5. Host figures, so this runs only with the benchmarks
(`pytest tests/benchmarks`, or `nox -s bench`), never in the default test run.
"""

from __future__ import annotations

from typing import Any

from bench.studies.selftest import overhead

TARGET = 0.5


def test_full_stack_keeps_at_least_half_the_speed_of_plain_httpx(benchmark: Any) -> None:
    result = benchmark.pedantic(overhead, rounds=1, iterations=1)
    modes = result["modes"]
    benchmark.extra_info.update({f"{mode}_ratio": figures["ratio"] for mode, figures in modes.items()})
    assert set(modes) == {"sequential", "threads", "async"}
    slow = {mode: figures["ratio"] for mode, figures in modes.items() if figures["ratio"] < TARGET}
    assert not slow, f"below {TARGET} of plain httpx: {slow}"
