"""`syncbench faults`: every strategy under every fault; exit 1 if any cell breaks its class.

Output: a rich table (or --json),
and with --out, faults.json and faults.md written atomically. The documents hold only
simulated figures, so they are byte-identical across reruns and job counts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import bench
from bench.cli.application import app
from bench.cli.options import (
    DEFAULT_MAX_MIB,
    DEFAULTS,
    FanoutOpt,
    ForceOpt,
    JobsOpt,
    MaxPagesOpt,
    MaxRetriesOpt,
    MaxWorldOpt,
    ScenarioOpt,
    SeedOpt,
    StrategiesOpt,
    WorkersOpt,
    strategy_names,
    world_limit,
)
from bench.errors import HarnessError
from bench.render import faults as report
from bench.results.files import atomic_write, json_text, prepare_out
from bench.run.sweep import default_jobs, parse_list
from bench.scenario.model import load_scenario, scenario_hash
from bench.studies.faults import FaultCase, Matrix, cases_for, run_matrix

__all__ = ["document"]


def document(matrix: Matrix) -> dict[str, Any]:
    """faults.json: the cases, the references and the judged cells; simulated figures only."""
    scenario = matrix.scenario
    return {
        "syncbench": bench.__version__,
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "seed": scenario.seed,
        "fanout": matrix.fanout,
        "workers": matrix.workers,
        "max_retries": matrix.max_retries,
        "faults": [_case(case) for case in matrix.cases],
        "references": matrix.references,
        "cells": matrix.cells,
        "violations": matrix.violations,
    }


def _case(case: FaultCase) -> dict[str, Any]:
    return {
        "name": case.name,
        "class": case.kind,
        "summary": case.summary,
        "faults": case.faults.model_dump(mode="json", exclude_defaults=True),
        "client_page_size": case.page_size,
    }


def _select(names: str, cases: list[FaultCase]) -> list[FaultCase]:
    if names.strip() == "all":
        return cases
    known = {case.name: case for case in cases}
    chosen = parse_list(names, "faults")
    for name in chosen:
        if name not in known:
            raise HarnessError(f"unknown fault {name!r} (available: {', '.join(known)})")
    return [known[name] for name in chosen]


@app.command("faults")
def faults_command(
    scenario: ScenarioOpt = "pms-1000",
    strategies: StrategiesOpt = "all",
    fanout: FanoutOpt = "threads",
    workers: WorkersOpt = 10,
    seed: SeedOpt = None,
    max_retries: MaxRetriesOpt = 5,
    max_pages: MaxPagesOpt = DEFAULTS.max_pages,
    max_world_mib: MaxWorldOpt = DEFAULT_MAX_MIB,
    only: Annotated[str, typer.Option("--faults", help="Comma list of faults, or all.")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print faults.json's document instead of the table.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write faults.json and faults.md here.")] = None,
    force: ForceOpt = False,
    jobs: JobsOpt = None,
) -> None:
    """Run every strategy under every fault: did it survive, lose anything, and say so?"""
    world = load_scenario(scenario, seed)
    world_limit(max_world_mib, world)
    names = strategy_names(strategies)
    cases = _select(only, cases_for(world))
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    matrix = run_matrix(
        world,
        names,
        cases,
        fanout=fanout,
        workers=workers,
        max_retries=max_retries,
        max_pages=max_pages,
        jobs=jobs or default_jobs(),
    )
    if out is not None:
        atomic_write(out / "faults.json", json_text(document(matrix)))
        atomic_write(out / "faults.md", report.markdown(matrix))
    if as_json:
        typer.echo(json.dumps(document(matrix), indent=2))
    else:
        console = Console() if Console().is_terminal else Console(width=170)
        console.print(report.table(matrix))
        for note in report.notes(matrix):
            console.print(note, markup=False, highlight=False)
        console.print(
            f"{len(matrix.cells)} cells, {matrix.violations} violation(s), "
            f"{time.perf_counter() - began:.1f} s on this host"
        )
    if matrix.violations:
        sys.exit(1)
