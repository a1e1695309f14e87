"""`syncbench faults`: every strategy under every fault; exit 1 if any cell breaks its class.

Registered by one import at the end of bench/cli.py. Output: a rich table (or --json),
and with --out, faults.json and faults.md written atomically. The documents hold only
simulated figures, so they are byte-identical across reruns and job counts.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import bench
from bench.cli.main import Fanout, FanoutOpt, ForceOpt, RetriesOpt, ScenarioOpt, SeedOpt, WorkersOpt, app
from bench.errors import HarnessError
from bench.results.files import atomic_write, json_text, prepare_out
from bench.run.runner import RunSpec
from bench.run.sweep import default_jobs, parse_list
from bench.scenario.model import load_scenario, scenario_hash
from bench.studies.faults import FaultCase, Matrix, cases_for, run_matrix
from strategies import Options, available

__all__ = ["document", "markdown", "table"]

COLUMNS = (
    "fault",
    "class",
    "strategy",
    "status",
    "coverage",
    "missed",
    "dup",
    "retries",
    "429s",
    "+time s",
    "bookmark",
    "hits",
    "verdict",
)


def _hits(injected: dict[str, int]) -> str:
    return str(sum(injected.values()))


def _cells(cell: dict[str, Any]) -> list[str]:
    return [
        cell["fault"],
        cell["class"],
        cell["strategy"],
        cell["status"],
        f"{cell['coverage']:.1%}",
        str(len(cell["missed_beyond_reference"])),
        str(cell["duplicates"]),
        str(cell["retries"]),
        str(cell["rate_limited"]),
        f"{cell['extra_s']:+.1f}",
        cell["bookmark"],
        _hits(cell["injected"]),
        "ok" if cell["verdict"] == "ok" else "VIOLATION",
    ]


def _reference_cells(ref: dict[str, Any]) -> list[str]:
    label = "none" if ref["page_size"] is None else f"none (page size {ref['page_size']})"
    return [
        label,
        "reference",
        ref["strategy"],
        ref["status"],
        f"{ref['coverage']:.1%}",
        f"{len(ref['missed'])} (ref)",
        str(ref["duplicates"]),
        str(ref["retries"]),
        str(ref["rate_limited"]),
        f"{ref['makespan_s']:.1f}",
        ref["bookmark"],
        "0",
        "",
    ]


def _notes(matrix: Matrix) -> list[str]:
    """One line per fault-free miss, failure reason and violation, in table order."""
    notes = []
    for ref in matrix.references:
        where = "reference" if ref["page_size"] is None else f"reference (page size {ref['page_size']})"
        if ref["missed"]:
            causes = Counter(miss["reason"].split(":")[0] for miss in ref["missed"])
            ids = ", ".join(str(miss["id"]) for miss in ref["missed"][:5]) + (", ..." if len(ref["missed"]) > 5 else "")
            notes.append(
                f"{where} / {ref['strategy']}: misses {len(ref['missed'])} conversation(s) without any "
                f"fault ({', '.join(f'{c} x{n}' for c, n in sorted(causes.items()))}): {ids}"
            )
    for cell in matrix.cells:
        where = f"{cell['fault']} / {cell['strategy']}"
        if cell["error"]:
            notes.append(f"{where}: failed, saying: {cell['error']}")
        for violation in cell["violations"]:
            notes.append(f"{where}: VIOLATION: {violation}")
    return notes


def table(matrix: Matrix) -> Table:
    """The matrix as a rich table: references first, then one line per fault x strategy."""
    scenario = matrix.scenario
    title = (
        f"fault matrix: {scenario.name}, {matrix.fanout} x{matrix.workers}, max retries {matrix.max_retries} "
        "(missed: beyond the fault-free run; +time: simulated s over it; reference rows: makespan)"
    )
    out = Table(title=title)
    for name in COLUMNS:
        out.add_column(name, justify="left" if name in ("fault", "class", "strategy", "bookmark") else "right")
    for ref in matrix.references:
        out.add_row(*_reference_cells(ref), style="dim")
    for cell in matrix.cells:
        out.add_row(*_cells(cell), style=None if cell["verdict"] == "ok" else "bold red")
    return out


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


def markdown(matrix: Matrix) -> str:
    """faults.md: the same table, the fault definitions and the notes."""

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    scenario = matrix.scenario
    lines = [
        f"# Fault matrix: {scenario.name}",
        "",
        f"Fan-out {matrix.fanout} x{matrix.workers}, max retries {matrix.max_retries}, seed {scenario.seed}. "
        "All times are simulated seconds. Transient faults must end ok with nothing lost against the fault-free "
        "run and nothing written twice; permanent faults must fail loudly with the reason, never lose silently, "
        "and never move the bookmark past what was missed.",
        "",
        f"**{matrix.violations} violation(s).**",
        "",
        row(list(COLUMNS)),
        row(["---"] * len(COLUMNS)),
        *(row(_reference_cells(ref)) for ref in matrix.references),
        *(row(_cells(cell)) for cell in matrix.cells),
        "",
        "## Faults",
        "",
        *(f"- `{case.name}` ({case.kind}): {case.summary}" for case in matrix.cases),
        "",
        "## Notes",
        "",
        *(f"- {note}" for note in _notes(matrix) or ["none"]),
        "",
    ]
    return "\n".join(lines)


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
    strategies: Annotated[str, typer.Option("--strategies", help="Comma list of strategies, or all.")] = "all",
    fanout: FanoutOpt = Fanout.threads,
    workers: WorkersOpt = 10,
    seed: SeedOpt = None,
    max_retries: RetriesOpt = 5,
    only: Annotated[str, typer.Option("--faults", help="Comma list of faults, or all.")] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print faults.json's document instead of the table.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write faults.json and faults.md here.")] = None,
    force: ForceOpt = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Cells run in parallel processes.")] = None,
) -> None:
    """Run every strategy under every fault: did it survive, lose anything, and say so?"""
    world = load_scenario(scenario, seed)
    names = list(available()) if strategies.strip() == "all" else parse_list(strategies, "strategies")
    for name in names:
        if name not in available():
            raise HarnessError(f"unknown strategy {name!r} (available: {', '.join(available())})")
    cases = _select(only, cases_for(world))
    RunSpec(world, names[0], fanout.value, Options(workers=workers))  # refuses a bad worker count
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    matrix = run_matrix(
        world, names, cases, fanout=fanout.value, workers=workers, max_retries=max_retries, jobs=jobs or default_jobs()
    )
    if out is not None:
        atomic_write(out / "faults.json", json_text(document(matrix)))
        atomic_write(out / "faults.md", markdown(matrix))
    if as_json:
        typer.echo(json.dumps(document(matrix), indent=2))
    else:
        console = Console() if Console().is_terminal else Console(width=170)
        console.print(table(matrix))
        for note in _notes(matrix):
            console.print(note, markup=False, highlight=False)
        console.print(
            f"{len(matrix.cells)} cells, {matrix.violations} violation(s), "
            f"{time.perf_counter() - began:.1f} s on this host"
        )
    if matrix.violations:
        sys.exit(1)
