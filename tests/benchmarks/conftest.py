"""Benchmarks run only when asked for: `pytest tests/benchmarks` (or SYNCBENCH_BENCHMARKS=1).

The default `pytest` collects this folder too (testpaths = tests), so every item here is
skipped unless a command-line path points inside it or the variable is set: host timings
are slow to take and noisy, and they are no pass/fail signal for the ordinary test run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent.resolve()
ENV = "SYNCBENCH_BENCHMARKS"


def _selected(config: pytest.Config) -> bool:
    """True when a path given on the command line is this folder or inside it."""
    if os.environ.get(ENV, "") not in ("", "0"):
        return True
    base = Path(config.invocation_params.dir)
    for arg in config.invocation_params.args:
        if arg.startswith("-"):
            continue
        path = (base / arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    skip = pytest.mark.skip(reason=f"benchmarks run only when selected: pytest tests/benchmarks (or {ENV}=1)")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
