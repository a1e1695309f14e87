"""Scaling study: host time, memory and simulated makespan as the data grows.

Each (size, strategy) point runs in a fresh process so its peak memory is its own.
Host figures vary from machine to machine, so the study is a host report
(`scaling.json`, `scaling.md`, `scaling.png`), never part of `results.json`.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.errors import HarnessError
from bench.results.documents import Document, load_document
from bench.run.pool import run_all
from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario, ScenarioError, refusal
from bench.world.estimate import check_world
from strategies import Options

__all__ = ["ScalePoint", "growth", "load_study", "measure_point", "resize", "study", "study_document"]


@dataclass(frozen=True)
class ScalePoint:
    size: int
    strategy: str
    host_seconds: float
    peak_mib: float
    makespan_s: float
    api_calls: int
    coverage: float
    status: str


def resize(scenario: Scenario, conversations: int) -> Scenario:
    """The scenario with `conversations` per account; orphans scale along, activity stays what it is
    (capped at a tenth of the data), so strategies that follow activity show it."""
    ds, act = scenario.dataset, scenario.activity
    share = ds.orphans / max(1, ds.conversations)
    active = min(act.active, conversations // 10)
    dataset = ds.model_copy(update={"conversations": conversations, "orphans": int(conversations * share)})
    activity = act.model_copy(
        update={
            "active": active,
            "active_orphans": min(act.active_orphans, active, dataset.orphans),
            "reservation_only": min(act.reservation_only, conversations // 10),
        }
    )
    try:
        return Scenario.model_validate(
            {
                **scenario.model_dump(),
                "name": f"{scenario.name}-{conversations}",
                "dataset": dataset.model_dump(),
                "activity": activity.model_dump(),
            }
        )
    except ValidationError as error:
        raise ScenarioError(f"--sizes {conversations}: {refusal(error)}") from None


def measure_point(
    scenario: Scenario, strategy: str, fanout: str, workers: int, max_pages: int = Options().max_pages
) -> ScalePoint:
    """One run, in the calling process (call it in a fresh one for a clean peak memory)."""
    began = time.perf_counter()
    row = run(RunSpec(scenario, strategy, fanout, Options(workers=workers, max_pages=max_pages))).rows[-1]
    host = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ScalePoint(
        scenario.dataset.conversations,
        strategy,
        round(host, 3),
        round(peak, 1),
        row["makespan_s"],
        row["api_calls"],
        row["coverage"],
        row["status"],
    )


def study(
    scenario: Scenario,
    sizes: list[int],
    strategies: list[str],
    fanout: str,
    workers: int,
    jobs: int,
    max_pages: int = Options().max_pages,
) -> list[ScalePoint]:
    """Every size x strategy, each in a process of its own, largest last so a slow one is seen soonest.

    Every size's world is checked against the memory limit first, so a size too large is
    refused before any run starts."""
    worlds = [resize(scenario, size) for size in sorted(sizes)]
    for world in worlds:
        check_world(world)
    points = [(world, strategy) for world in worlds for strategy in strategies]
    tasks = [partial(measure_point, world, strategy, fanout, workers, max_pages) for world, strategy in points]
    return run_all(tasks, jobs=jobs, fresh_process=True)


def growth(points: list[ScalePoint], strategy: str, field: str) -> float | None:
    """The exponent k in `field ~ size^k`, a least-squares fit on the log-log points."""
    pairs = [(p.size, getattr(p, field)) for p in points if p.strategy == strategy and getattr(p, field) > 0]
    if len(pairs) < 2:
        return None
    xs = [math.log(s) for s, _ in pairs]
    ys = [math.log(v) for _, v in pairs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return None if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def study_document(points: list[ScalePoint], title: str) -> dict[str, Any]:
    """scaling.json: the title and every point, what `load_study` reads back."""
    return {"title": title, "points": [asdict(p) for p in points]}


class ScalingStudy(Document):
    """scaling.json, as `study_document` writes it."""

    title: str = ""
    points: list[ScalePoint]


def load_study(out: Path) -> tuple[list[ScalePoint], str] | None:
    """The study a folder holds (scaling.json), or None when it holds none or an unreadable one."""
    try:
        document = load_document(out / "scaling.json", ScalingStudy, what="scaling study")
    except HarnessError:
        return None
    return document.points, document.title
