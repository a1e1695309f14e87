"""Fidelity: does the virtual clock tell the truth? Each point is run twice, in virtual time
in-process and in wall time over loopback against `syncbench serve`, and compared.

The real server is a fresh child process per point, started on the scenario's epoch
at its first request so that its rate-limit windows start with the run, as the
simulated ones do. Errors are relative to the virtual figure: (real - virtual) / virtual.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import bench
from bench.run.real import run_real
from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from bench.serve.server import ServerProcess, scale_scenario
from bench.transport.trace import TraceEntry
from bench.world.dataset import generate
from strategies import Options

__all__ = ["COMPARED", "Point", "alignment", "fidelity_document", "relative_error", "run_fidelity"]

#: figures compared side by side; the first is held to the time target, the others explain it
COMPARED = ("makespan_s", "api_calls", "rate_limited", "retries", "coverage", "connections", "peak_concurrency")
FREE_TARGET = 0.10  # makespan error allowed where the rate limit does not bind
BOUND_TARGET = 0.20  # ... and where it binds (throttling depends on arrival order within windows)


def relative_error(real: float | None, virtual: float | None) -> float | None:
    """(real - virtual) / virtual; 0 when both are 0; None when it cannot be computed."""
    if real is None or virtual is None:
        return None
    if virtual == 0:
        return 0.0 if real == 0 else None
    return round((real - virtual) / virtual, 6)


def _first_attempts(trace: Sequence[TraceEntry]) -> dict[tuple[str, int], TraceEntry]:
    seen: dict[str, int] = {}
    keyed = {}
    for e in sorted((e for e in trace if e.attempt == 1), key=lambda e: e.start):
        seen[e.path] = seen.get(e.path, 0) + 1
        keyed[(e.path, seen[e.path])] = e
    return keyed


def alignment(
    virtual: Sequence[TraceEntry], real: Sequence[TraceEntry], window_s: float | None, connect_s: float
) -> dict[str, Any]:
    """How far the real run drifted behind the virtual one, and how many first attempts reached
    the server in another rate-limit window because of it: what explains a throttling difference.

    Requests are matched by path and how many earlier first attempts had the same path (pages
    of a listing share a path); a request is handled at its start plus, on a new connection,
    the setup time. Lags are real start minus virtual start, in seconds.
    """
    ours, theirs = _first_attempts(virtual), _first_attempts(real)
    matched = sorted(((ours[k], theirs[k]) for k in ours if k in theirs), key=lambda m: m[0].start)
    if not matched:
        return {"matched": 0}
    lags = [r.start - v.start for v, r in matched]
    first = min((e.start for e in (*virtual, *real) if e.throttled), default=None)
    before = [r.start - v.start for v, r in matched if first is not None and v.start < first]
    out: dict[str, Any] = {
        "matched": len(matched),
        "median_lag_s": round(statistics.median(lags), 6),
        "final_lag_s": round(max(e.end for e in real) - max(e.end for e in virtual), 6),
        "lag_at_first_throttle_s": round(before[-1], 6) if before else None,
    }
    if window_s:

        def window(e: TraceEntry) -> int:
            return math.floor((e.start + (connect_s if e.new_connection else 0.0)) / window_s)

        out["first_attempts_in_another_window"] = sum(window(v) != window(r) for v, r in matched)
    return out


@dataclass(frozen=True)
class Point:
    """One strategy x fan-out x worker count x sync, measured both ways."""

    strategy: str
    fanout: str
    workers: int
    sync: int
    virtual: dict[str, Any]
    real: dict[str, Any]
    #: see `alignment`; empty when the traces were not kept
    drift: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def binds(self) -> bool:
        """The rate limit throttled at least one call on either side."""
        return bool(self.virtual["rate_limited"] or self.real["rate_limited"])

    @property
    def target(self) -> float:
        return BOUND_TARGET if self.binds else FREE_TARGET

    def error(self, figure: str) -> float | None:
        return relative_error(self.real.get(figure), self.virtual.get(figure))

    def problems(self) -> list[str]:
        """Why the point misses its target (empty: it meets it)."""
        found = []
        if self.real["status"] != "ok" or self.virtual["status"] != "ok":
            found.append("a run failed")
        err = self.error("makespan_s")
        if err is None or abs(err) > self.target:
            found.append(f"makespan off > {self.target:.0%}")
        if self.real["coverage"] != self.virtual["coverage"]:
            found.append("coverage differs")
        admitted = [side["api_calls"] - side["rate_limited"] for side in (self.virtual, self.real)]
        if admitted[0] != admitted[1] or (not self.binds and self.real["api_calls"] != self.virtual["api_calls"]):
            found.append("calls differ")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "fanout": self.fanout,
            "workers": self.workers,
            "sync": self.sync,
            "virtual": {k: self.virtual.get(k) for k in COMPARED},
            "real": {k: self.real.get(k) for k in COMPARED},
            "relative_error": {k: self.error(k) for k in COMPARED},
            "rate_limit_binds": self.binds,
            "target": self.target,
            "problems": self.problems(),
            "alignment": self.drift,
        }


def run_fidelity(
    scenario: str,
    strategy: str,
    fanout: str,
    workers: Sequence[int],
    options: Options,
    *,
    seed: int | None = None,
    time_scale: float = 1.0,
    on_point: Callable[[Point], None] | None = None,
) -> list[Point]:
    """Each worker count with these run settings, both ways; a server process per real run."""
    scaled = scale_scenario(load_scenario(scenario, seed), time_scale)
    points: list[Point] = []
    for count in workers:
        spec = RunSpec(scaled, strategy, fanout, replace(options, workers=count))
        virtual = run(spec)
        with ServerProcess(scenario, seed=seed, time_scale=time_scale, epoch="first-request") as server:
            real = run_real(spec, server.base_url, world=generate(scaled))
        window = scaled.rate_limits[0].window_s if scaled.rate_limits[0].algorithm != "none" else None
        for v_row, r_row in zip(virtual.rows, real.rows, strict=True):
            drift = alignment(
                _sync(virtual.trace, virtual.rows, v_row["sync"]),
                _sync(real.trace, real.rows, r_row["sync"]),
                window,
                scaled.latency.connect_s,
            )
            point = Point(strategy, fanout, count, v_row["sync"], v_row, r_row, drift)
            points.append(point)
            if on_point is not None:
                on_point(point)
    return points


def _sync(trace: list[TraceEntry], rows: list[dict[str, Any]], index: int) -> list[TraceEntry]:
    """The trace entries of one sync (runs append every sync's entries in order)."""
    counts = [row["api_calls"] for row in rows]
    begin = sum(counts[:index])
    return trace[begin : begin + counts[index]]


def fidelity_document(points: Sequence[Point], *, scenario: str, seed: int, time_scale: float) -> dict[str, Any]:
    return {
        "syncbench": bench.__version__,
        "scenario": scenario,
        "seed": seed,
        "time_scale": time_scale,
        "targets": {"rate_limit_free": FREE_TARGET, "rate_limit_binds": BOUND_TARGET},
        "points": [p.as_dict() for p in points],
    }
