"""Scaling study: host time, memory and simulated makespan as the data grows.

Each (size, strategy) point runs in a fresh process so its peak memory is its own.
Host figures vary from machine to machine, so the study is a host report
(`scaling.json`, `scaling.md`, `scaling.png`), never part of `results.json`.
"""

from __future__ import annotations

import json
import math
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from bench.render.report import Block, Bullets, Heading, Image, Para, Table, render_markdown
from bench.results.files import atomic_write, json_text
from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario
from strategies import Options

__all__ = ["ScalePoint", "growth", "load_study", "measure_point", "resize", "study", "study_blocks", "write_study"]


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
    return Scenario.model_validate(
        {
            **scenario.model_dump(),
            "name": f"{scenario.name}-{conversations}",
            "dataset": dataset.model_dump(),
            "activity": activity.model_dump(),
        }
    )


def measure_point(scenario: Scenario, strategy: str, fanout: str, workers: int) -> ScalePoint:
    """One run, in the calling process (call it in a fresh one for a clean peak memory)."""
    began = time.perf_counter()
    row = run(RunSpec(scenario, strategy, fanout, Options(workers=workers))).rows[-1]
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
    scenario: Scenario, sizes: list[int], strategies: list[str], fanout: str, workers: int, jobs: int
) -> list[ScalePoint]:
    """Every size x strategy, each in a process of its own, largest last so a slow one is seen soonest."""
    points = [(resize(scenario, size), strategy) for size in sorted(sizes) for strategy in strategies]
    with ProcessPoolExecutor(max_workers=jobs, max_tasks_per_child=1) as pool:
        futures = [pool.submit(measure_point, world, strategy, fanout, workers) for world, strategy in points]
        return [f.result() for f in futures]


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


def _shape(k: float | None) -> str:
    if k is None:
        return "n/a"
    if k < 0.2:
        return f"flat (N^{k:.2f})"
    if k < 0.85:
        return f"sub-linear (N^{k:.2f})"
    if k <= 1.15:
        return f"linear (N^{k:.2f})"
    return f"worse than linear (N^{k:.2f})"


def _why(points: list[ScalePoint], strategy: str) -> str:
    calls, host, memory = (growth(points, strategy, f) for f in ("api_calls", "host_seconds", "peak_mib"))
    mine = sorted((p for p in points if p.strategy == strategy), key=lambda p: p.size)
    per_call = [p.host_seconds / p.api_calls * 1e6 for p in mine if p.api_calls]
    text = f"API calls grow {_shape(calls)}"
    if calls is not None and calls < 0.85:
        text += ": the strategy follows the activity, not the size of the data"
    elif calls is not None:
        text += ": the strategy reads every record"
    text += f"; host time grows {_shape(host)}"
    if per_call:
        text += f" (from {per_call[0]:.0f} to {per_call[-1]:.0f} µs per call, generating the world included)"
    text += f"; memory grows {_shape(memory)}, the world's records held in memory plus the store"
    return text + "."


def study_blocks(points: list[ScalePoint], title: str) -> list[Block]:
    """The study as report blocks: the table, how each cost grows and why, and the plot."""
    ordered = sorted(points, key=lambda p: (p.strategy, p.size))
    table = Table(
        ("conversations", "strategy", "host (s)", "peak memory (MiB)", "makespan (s)", "API calls", "coverage"),
        tuple(
            (
                f"{p.size:,}",
                p.strategy,
                f"{p.host_seconds:.2f}",
                f"{p.peak_mib:.0f}",
                f"{p.makespan_s:.1f}",
                f"{p.api_calls:,}",
                f"{p.coverage:.1%}",
            )
            for p in ordered
        ),
        (True, False, True, True, True, True, True),
    )
    growth_items = tuple(
        (
            strategy,
            f"simulated makespan grows {_shape(growth(points, strategy, 'makespan_s'))}; " + _why(points, strategy),
        )
        for strategy in sorted({p.strategy for p in points})
    )
    return [
        Heading(2, f"Scaling study: {title}"),
        Para("Host figures from this machine (they vary between machines); makespan in simulated seconds."),
        table,
        Heading(3, "How each cost grows"),
        Bullets(growth_items),
        Image("scaling", "scaling.png"),
    ]


def write_study(points: list[ScalePoint], out: Path, title: str) -> list[Path]:
    """scaling.json, scaling.md and scaling.png; a sweep report in the same folder shows the study too."""
    from bench.render.plots import scaling as plot_scaling

    atomic_write(out / "scaling.json", json_text({"title": title, "points": [p.__dict__ for p in points]}))
    atomic_write(out / "scaling.md", render_markdown(study_blocks(points, title)))
    png = plot_scaling([replace(p) for p in points], out / "scaling.png")
    return [out / "scaling.json", out / "scaling.md", png]


def load_study(out: Path) -> tuple[list[ScalePoint], str] | None:
    """The study a folder holds (scaling.json), or None when it holds none or an unreadable one."""
    try:
        document = json.loads((out / "scaling.json").read_text(encoding="utf-8"))
        return [ScalePoint(**p) for p in document["points"]], str(document.get("title", ""))
    except (OSError, ValueError, TypeError, KeyError):
        return None
