"""The retry matrix: every shipped scenario x strategy x fan-out x worker count under the default policy.

`python -m tests.strategies.retry_matrix [--scenarios a,b] [--jobs N]` prints one line per
failed point and a summary; the default policy must carry every point, or the failed row
must say which budget ran out. Virtual time, so the whole matrix costs host seconds only.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from itertools import product
from typing import NamedTuple

from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario, shipped_scenarios
from strategies import Options, available

WORKERS = (1, 2, 5, 10, 20, 50)
FANOUTS = ("threads", "async")


class Point(NamedTuple):
    scenario: str
    strategy: str
    fanout: str
    workers: int


def errors(point: Point) -> list[str]:
    """The errors of the point's failed rows (empty when every sync succeeded)."""
    spec = RunSpec(load_scenario(point.scenario), point.strategy, point.fanout, Options(workers=point.workers))
    return [row["error"] or "" for row in run(spec).rows if row["status"] != "ok"]


def points(scenarios: list[str], strategies: list[str]) -> list[Point]:
    return [Point(*p) for p in product(scenarios, strategies, FANOUTS, WORKERS)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenarios", default=",".join(shipped_scenarios()))
    parser.add_argument("--strategies", default=",".join(available()))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    todo = points(args.scenarios.split(","), args.strategies.split(","))
    failed = 0
    with ProcessPoolExecutor(args.jobs) as pool:
        for point, errs in zip(todo, pool.map(errors, todo), strict=True):
            if errs:
                failed += 1
                print(f"FAILED {' '.join(map(str, point))}: {errs[0]}", flush=True)
    print(f"{failed} of {len(todo)} points failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
