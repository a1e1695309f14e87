"""Sweeps: a matrix of runs, executed in processes, saved run by run so nothing finished is lost.

Each finished run is written to `runs/NNNN.json` in the output folder beside a
manifest of the sweep's parameters; `results.json` is assembled in plan order, so
it is byte-identical whatever the job count, the completion order, or how many
times the sweep was interrupted and resumed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

import bench
from bench.errors import HarnessError
from bench.measure.row import Row
from bench.results.documents import Checked, Document, load_document
from bench.results.files import RUNS, atomic_write, json_text, remove_leftovers
from bench.run.pool import run_all
from bench.run.runner import RunSpec, run
from bench.run.settings import CheckedOptions
from bench.scenario.model import Scenario, load_scenario, scenario_hash
from bench.transport.trace import TraceEntry
from strategies import FANOUTS, Options, resolve

__all__ = ["SweepPlan", "execute", "finished_runs", "load_manifest", "parse_list", "scenario_reference"]

MANIFEST = "manifest.json"


def parse_list(text: str, name: str, cast: Callable[[str], Any] = str) -> list[Any]:
    """A comma list from the command line, e.g. `1,5,10`; refuses empty items and duplicates."""
    items = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in items):
        raise HarnessError(f"--{name} must be a comma list such as {'1,5,10' if cast is int else 'a,b'}, not {text!r}")
    try:
        values = [cast(part) for part in items]
    except ValueError:
        raise HarnessError(f"--{name} must list integers, not {text!r}") from None
    if len(set(values)) != len(values):
        raise HarnessError(f"--{name} lists a value twice: {text!r}")
    return values


def scenario_reference(text: str) -> str:
    """What a manifest records of `--scenario`: a shipped name as it is, a file by its absolute path,
    so that `--resume` from another directory finds the same file."""
    return str(Path(text).absolute()) if text.endswith(".toml") or Path(text).exists() else text


@dataclass(frozen=True)
class SweepPlan:
    """The sweep's parameters; its runs are every seed x strategy x fan-out x worker count."""

    scenario: str
    strategies: tuple[str, ...]
    fanouts: tuple[str, ...]
    workers: tuple[int, ...]
    seeds: tuple[int | None, ...] = (None,)
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        resolve(self.strategies)
        for fanout in self.fanouts:
            if fanout not in FANOUTS:
                raise HarnessError(f"unknown fan-out {fanout!r} (choose from {', '.join(FANOUTS)})")

    def scenarios(self) -> list[Scenario]:
        return [load_scenario(self.scenario, seed) for seed in self.seeds]

    def specs(self) -> list[RunSpec]:
        """Every run in plan order; a sequential run ignores the worker count, so it runs once."""
        specs = []
        for world in self.scenarios():
            for strategy in self.strategies:
                for fanout in self.fanouts:
                    counts = (1,) if fanout == "sequential" else self.workers
                    for workers in counts:
                        opts = replace(self.options, workers=workers)
                        specs.append(RunSpec(world, strategy, fanout, opts))
        return specs

    def manifest(self) -> dict[str, Any]:
        return {
            "syncbench": bench.__version__,
            "scenario": self.scenario,
            "scenario_hash": scenario_hash(load_scenario(self.scenario)),
            "strategies": list(self.strategies),
            "fanouts": list(self.fanouts),
            "workers": list(self.workers),
            "seeds": list(self.seeds),
            "options": asdict(self.options),
        }


class Manifest(Document):
    """manifest.json (`SweepPlan.manifest`), read back by `sweep --resume`: only from this version,
    since runs saved by another one may differ from what this one would measure."""

    syncbench: str
    scenario: str
    scenario_hash: str
    strategies: list[str]
    fanouts: list[str]
    workers: list[int]
    seeds: list[int | None]
    options: CheckedOptions

    @field_validator("syncbench")
    @classmethod
    def _this_version(cls, version: str) -> str:
        if version != bench.__version__:
            raise ValueError(
                f"written by syncbench {version}, this is {bench.__version__}; run the sweep again with --force"
            )
        return version


class SavedRun(Document):
    """runs/NNNN.json: one finished run of a sweep, with what it was run for."""

    key: dict[str, Any]
    scenario_hash: str
    rows: list[Annotated[dict[str, Any], Checked(Row)]] = Field(min_length=1)  # every run gives a row


def load_manifest(out: Path) -> SweepPlan:
    """The plan of the sweep saved in `out`, for `--resume`; refused if its scenario has changed since."""
    path = out / MANIFEST
    saved = load_document(path, Manifest, what="sweep manifest", missing=f"{out} holds no sweep to resume")
    now = scenario_hash(load_scenario(saved.scenario))
    if now != saved.scenario_hash:
        raise HarnessError(
            f"{path}: the scenario {saved.scenario} has changed since the sweep began"
            f" (hash {saved.scenario_hash}, now {now}); run the sweep again with --force"
        )
    return SweepPlan(
        saved.scenario,
        tuple(saved.strategies),
        tuple(saved.fanouts),
        tuple(saved.workers),
        tuple(saved.seeds),
        saved.options,
    )


def _run_file(out: Path, index: int) -> Path:
    return out / RUNS / f"{index:04d}.json"


def finished_runs(out: Path, specs: list[RunSpec]) -> dict[int, list[dict[str, Any]]]:
    """Rows of the runs already saved, by plan index; a file that does not match its spec (or was
    made from a scenario file that has changed since) is run again. A file that is not a saved
    run at all (edited, or not written by syncbench) is refused, naming it: rerunning would hide it."""
    done = {}
    for index, spec in enumerate(specs):
        path = _run_file(out, index)
        if not path.exists():
            continue
        try:
            saved = load_document(path, SavedRun, what="saved run")
        except HarnessError as error:
            raise HarnessError(f"{error}; delete it to run it again") from None
        if saved.key == spec.key(0) and saved.scenario_hash == scenario_hash(spec.scenario):
            done[index] = saved.rows
    return done


def _one(spec: RunSpec, keep_trace: bool) -> tuple[list[dict[str, Any]], list[TraceEntry] | None]:
    result = run(spec)
    return result.rows, (result.trace if keep_trace else None)


def execute(
    plan: SweepPlan,
    out: Path,
    *,
    jobs: int,
    keep_traces: set[int] = frozenset(),  # type: ignore[assignment]
    on_done: Callable[[RunSpec], None] = lambda spec: None,
    executor: str = "local",
    scheduler: str | None = None,
) -> tuple[list[dict[str, Any]], dict[int, list[TraceEntry]]]:
    """Run the plan's missing runs, saving each as it finishes.

    `executor="local"` uses `jobs` processes on this machine; `"dask"` submits the runs
    to the Dask cluster at `scheduler` (or a LocalCluster of `jobs` workers). Returns
    every row in plan order and the traces asked for. On interruption the runs
    finished so far stay saved, and a resumed sweep runs only the rest.
    """
    specs = plan.specs()
    remove_leftovers(out)  # the writes a killed sweep left halfway
    atomic_write(out / MANIFEST, json_text(plan.manifest()))
    (out / RUNS).mkdir(exist_ok=True)
    done = finished_runs(out, specs)
    for index in done:
        on_done(specs[index])
    todo = [i for i in range(len(specs)) if i not in done]
    traces: dict[int, list[TraceEntry]] = {}

    def save(task: int, result: tuple[list[dict[str, Any]], list[TraceEntry] | None]) -> None:
        index, (rows, trace) = todo[task], result
        spec = specs[index]
        record = {"key": spec.key(0), "scenario_hash": scenario_hash(spec.scenario), "rows": rows}
        atomic_write(_run_file(out, index), json_text(record))
        done[index] = rows
        if trace is not None:
            traces[index] = trace
        on_done(specs[index])

    tasks = [partial(_one, specs[index], index in keep_traces) for index in todo]
    run_all(tasks, jobs=jobs, executor=executor, scheduler=scheduler, on_result=save)
    rows = [row for index in range(len(specs)) for row in done[index]]
    return rows, traces


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
