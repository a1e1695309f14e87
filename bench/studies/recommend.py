"""Choosing a worker default from measured runs: the fewest workers that are fast enough, safely.

A worker count qualifies when every sync of its run finished (status ok), missed no
conversation, and kept its throttled share (rate_limited / api_calls) at or under the cap.
The best time is the fastest qualifying run, and the recommendation is the smallest
qualifying count whose time is within the margin of it. The USL fit explains the shape:
throughput is successful API calls (api_calls - rate_limited) per simulated second, because
the rate-limit ceiling is in calls per second and a throttled call is no work done.
A run with several syncs counts as one job: its times and calls are summed over the syncs.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import bench
from bench.analysis.usl import UslFit, fit_usl
from bench.errors import HarnessError
from bench.measure.bounds import Ceiling, rate_limit_ceiling
from bench.run.sweep import SweepPlan, execute
from bench.scenario.model import Scenario, scenario_hash
from strategies import Options

__all__ = [
    "THROUGHPUT",
    "Ceiling",
    "Point",
    "Recommendation",
    "measure_points",
    "parse_share",
    "points_from_rows",
    "rate_limit_ceiling",
    "recommend",
    "recommendation_document",
]

Row = dict[str, Any]
THROUGHPUT = "successful API calls (api_calls - rate_limited) per simulated second"
DIGITS = 6


def _sig(value: float) -> float:
    return float(f"{value:.{DIGITS}g}") if value and math.isfinite(value) else value


def parse_share(text: str, name: str) -> float:
    """A share from the command line: `5%` or `0.05`; a bare number above 1 is refused as ambiguous."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (not raw.endswith("%") and value > 1):
        raise HarnessError(f"--{name} must be a share such as 5% or 0.05, not {text!r}")
    return value


@dataclass(frozen=True)
class Point:
    """One worker count's run, its syncs summed."""

    workers: int
    status: str
    makespan_s: float
    api_calls: int
    rate_limited: int
    conversations_missed: int
    throttled_share: float
    throughput: float


def points_from_rows(rows: Sequence[Row]) -> list[Point]:
    """Rows grouped by worker count (one run each), in worker order."""
    by_workers: dict[int, list[Row]] = {}
    for row in rows:
        by_workers.setdefault(int(row["workers"]), []).append(row)
    points = []
    for workers in sorted(by_workers):
        group = by_workers[workers]
        makespan = round(sum(r["makespan_s"] for r in group), 6)
        calls = sum(r["api_calls"] for r in group)
        throttled = sum(r["rate_limited"] for r in group)
        points.append(
            Point(
                workers=workers,
                status="ok" if all(r["status"] == "ok" for r in group) else "failed",
                makespan_s=makespan,
                api_calls=calls,
                rate_limited=throttled,
                conversations_missed=sum(r["conversations_missed"] for r in group),
                throttled_share=_sig(throttled / calls) if calls else 0.0,
                throughput=_sig((calls - throttled) / makespan) if makespan > 0 else 0.0,
            )
        )
    return points


@dataclass(frozen=True)
class Recommendation:
    recommended_workers: int | None
    best_workers: int | None
    reason: str
    points: list[Point]
    verdicts: dict[int, str]
    qualifying: frozenset[int]
    usl: UslFit | None
    usl_error: str | None
    ceiling: Ceiling | None
    margin: float
    max_throttled: float


def _pct(share: float) -> str:
    """A share as a short percentage: 0.3%, 4%, 12%."""
    value = share * 100
    return f"{value:.1f}%" if 0 < value < 10 and round(value, 1) != round(value) else f"{value:.0f}%"


def _verdict(p: Point, max_throttled: float) -> str:
    """Why a count does not qualify ("" when it does)."""
    if p.status != "ok":
        return "failed"
    if p.conversations_missed:
        return f"missed {p.conversations_missed}"
    if p.throttled_share > max_throttled:
        return f"{_pct(p.throttled_share)} throttled"
    return ""


def _limit_clause(points: list[Point], ceiling: Ceiling | None) -> str:
    """Where throttling starts: the largest count before the first throttled one."""
    name = f"the {ceiling.scope} limit" if ceiling else "the rate limit"
    throttled = [p for p in points if p.rate_limited > 0]
    if not throttled:
        return f"no call was throttled up to {points[-1].workers} workers"
    first = throttled[0]
    below = [p for p in points if p.workers < first.workers]
    what = f"{first.workers} workers: {first.rate_limited} of {first.api_calls} calls throttled"
    if not below:
        return f"{name} binds at every count measured ({what})"
    return f"beyond {below[-1].workers} workers {name} binds ({what})"


def _reason(chosen: Point, best: Point, points: list[Point], ceiling: Ceiling | None, max_throttled: float) -> str:
    """The sentence a reviewer pastes, from the figures."""
    if chosen.workers == best.workers:
        timing = f"the best qualifying time ({chosen.makespan_s:.2f} s)"
    else:
        slower = chosen.makespan_s / best.makespan_s - 1
        timing = (
            f"within {_pct(slower)} of the best time at {best.workers}"
            f" ({chosen.makespan_s:.2f} s vs {best.makespan_s:.2f} s)"
        )
    throttled = (
        "no calls throttled" if chosen.rate_limited == 0 else f"{_pct(chosen.throttled_share)} of calls throttled"
    )
    text = f"{chosen.workers} workers: {timing}, no misses, {throttled}; {_limit_clause(points, ceiling)}"
    fastest = min((p for p in points if p.status == "ok" and p.makespan_s > 0), key=lambda p: (p.makespan_s, p.workers))
    if fastest.workers != best.workers:
        text += (
            f"; the fastest run, {fastest.workers} workers at {fastest.makespan_s:.2f} s, did not qualify"
            f" ({_verdict(fastest, max_throttled)})"
        )
    return text


def _no_choice(points: list[Point], verdicts: dict[int, str], margin: float, max_throttled: float) -> str:
    listed = "; ".join(f"{p.workers}: {verdicts[p.workers]}" for p in points)
    return (
        f"no worker count qualifies (all syncs ok, no misses, at most {_pct(max_throttled)} of calls throttled):"
        f" {listed}"
    )


def recommend(
    points: Sequence[Point], *, margin: float, max_throttled: float, ceiling: Ceiling | None = None
) -> Recommendation:
    """The smallest qualifying count within `margin` of the best qualifying time, with the USL fit. Pure."""
    points = sorted(points, key=lambda p: p.workers)
    if not points:
        raise ValueError("nothing to recommend from: no runs")
    verdicts = {p.workers: _verdict(p, max_throttled) for p in points}
    ok = [p for p in points if not verdicts[p.workers]]
    fit_points = [p for p in points if p.status == "ok" and p.throughput > 0]
    usl: UslFit | None = None
    usl_error = None
    try:
        usl = fit_usl([p.workers for p in fit_points], [p.throughput for p in fit_points])
    except ValueError as error:
        usl_error = str(error)
    if not ok:
        return Recommendation(
            None,
            None,
            _no_choice(points, verdicts, margin, max_throttled),
            points,
            verdicts,
            frozenset(),
            usl,
            usl_error,
            ceiling,
            margin,
            max_throttled,
        )
    best = min(ok, key=lambda p: (p.makespan_s, p.workers))
    chosen = next(p for p in ok if p.makespan_s <= best.makespan_s * (1 + margin))
    for p in ok:
        if p.makespan_s <= best.makespan_s * (1 + margin):
            verdicts[p.workers] = "chosen" if p is chosen else ("best" if p is best else "within margin")
        else:
            verdicts[p.workers] = f"{_pct(p.makespan_s / best.makespan_s - 1)} slower than best"
    if best is not chosen:
        verdicts[best.workers] = "best"
    reason = _reason(chosen, best, points, ceiling, max_throttled)
    return Recommendation(
        chosen.workers,
        best.workers,
        reason,
        points,
        verdicts,
        frozenset(p.workers for p in ok),
        usl,
        usl_error,
        ceiling,
        margin,
        max_throttled,
    )


def usl_summary(rec: Recommendation) -> dict[str, Any]:
    """The fit's figures with the ceiling beside them; `fit_error` says why there is no fit."""
    ceiling = rec.ceiling
    out: dict[str, Any] = {"throughput": THROUGHPUT}
    if rec.usl is not None:
        out |= rec.usl.as_dict()
    else:
        out["fit_error"] = rec.usl_error
    out["rate_limit_ceiling"] = _sig(ceiling.calls_per_s) if ceiling else None
    out["rate_limit"] = (
        {"scope": ceiling.scope, "limit": ceiling.limit, "window_s": ceiling.window_s} if ceiling else None
    )
    # where one worker's throughput, scaled linearly, would reach the ceiling
    if ceiling and rec.usl is not None and rec.usl.lam > 0:
        out["ceiling_workers"] = _sig(ceiling.calls_per_s / rec.usl.lam)
    else:
        out["ceiling_workers"] = None
    return out


def usl_text(rec: Recommendation) -> str:
    """The fit in two sentences, from its figures."""
    summary = usl_summary(rec)
    if rec.usl is None:
        text = f"USL fit: none ({rec.usl_error})."
    else:
        f = rec.usl
        if f.peak_workers is not None:
            peak = f"peak at N* = {f.peak_workers:.1f} workers ({f.peak_throughput:.2f} calls/s)"
        else:
            peak = "no peak (kappa = 0)"
            if f.peak_throughput:
                peak += f", levelling off at {f.peak_throughput:.2f} calls/s"
        knee = f"knee (half of linear) at {f.knee_workers:.1f} workers" if f.knee_workers else "no knee (linear)"
        text = (
            f"USL fit of {THROUGHPUT}: lambda {f.lam:.3f} calls/s per worker, sigma {f.sigma:.4g} (contention),"
            f" kappa {f.kappa:.3g} (coherency); {peak}; {knee}; fit error {f.rms_relative_error:.1%} RMS"
            f" over {f.points} points."
        )
    if rec.ceiling is not None:
        c = rec.ceiling
        text += f" Rate-limit ceiling: {c.calls_per_s:g} calls/s ({c.scope} limit {c.limit} per {c.window_s:g} s)"
        if summary["ceiling_workers"] is not None:
            text += f", which one worker's rate reaches at {summary['ceiling_workers']:.1f} workers"
        text += "."
    else:
        text += " No rate limit applies."
    return text


def recommendation_document(rec: Recommendation, settings: dict[str, Any]) -> dict[str, Any]:
    """{"recommended_workers", "reason", "usl", "points", "settings"}: deterministic, rounded, no host figures."""
    points = []
    for p in rec.points:
        item = asdict(p)
        item["fitted_throughput"] = _sig(rec.usl.throughput(p.workers)) if rec.usl else None
        item["verdict"] = rec.verdicts[p.workers]
        item["qualifies"] = p.workers in rec.qualifying
        points.append(item)
    return {
        "recommended_workers": rec.recommended_workers,
        "best_workers": rec.best_workers,
        "reason": rec.reason,
        "usl": usl_summary(rec),
        "points": points,
        "settings": settings | {"margin": rec.margin, "max_throttled": rec.max_throttled},
    }


def document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def measure_points(
    scenario: str, strategy: str, fanout: str, workers: Sequence[int], options: Options, seed: int | None, jobs: int
) -> tuple[list[Row], Scenario]:
    """Run each worker count once through the sweep machinery (in `jobs` processes); rows in worker order."""
    plan = SweepPlan(
        scenario=scenario,
        strategies=(strategy,),
        fanouts=(fanout,),
        workers=tuple(sorted(workers)),
        seeds=(seed,),
        options=replace(options, workers=1),
    )
    world = plan.scenarios()[0]
    with tempfile.TemporaryDirectory(prefix="syncbench-recommend-") as scratch:
        rows, _ = execute(plan, Path(scratch), jobs=jobs)
    return rows, world


def settings_of(world: Scenario, strategy: str, fanout: str, options: Options) -> dict[str, Any]:
    """What was measured, so a recommendation names its scenario, strategy and settings."""
    defaults = asdict(Options())
    changed = {k: v for k, v in sorted(asdict(options).items()) if k != "workers" and v != defaults[k]}
    return {
        "syncbench": bench.__version__,
        "scenario": world.name,
        "scenario_hash": scenario_hash(world),
        "seed": world.seed,
        "strategy": strategy,
        "fanout": fanout,
        "options": changed,
    }
