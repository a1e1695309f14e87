"""`syncbench scale`: how host time, memory and simulated makespan grow with the data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.cli.application import app
from bench.cli.options import (
    DEFAULT_MAX_MIB,
    DEFAULTS,
    FanoutOpt,
    ForceOpt,
    JobsOpt,
    MaxPagesOpt,
    MaxWorldOpt,
    ScenarioOpt,
    StrategiesOpt,
    WorkersOpt,
    strategy_names,
    world_limit,
)
from bench.errors import HarnessError
from bench.results.files import prepare_out
from bench.run.sweep import default_jobs, parse_list
from bench.scenario.model import load_scenario
from bench.studies.scale import growth, resize, study


@app.command("scale")
def scale_command(
    scenario: ScenarioOpt = "large",
    sizes: Annotated[str, typer.Option("--sizes", help="Comma list of conversation counts.")] = "1000,10000,100000",
    strategies: StrategiesOpt = "all",
    fanout: FanoutOpt = "async",
    workers: WorkersOpt = 20,
    max_pages: MaxPagesOpt = DEFAULTS.max_pages,
    max_world_mib: MaxWorldOpt = DEFAULT_MAX_MIB,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write scaling.json, scaling.md, scaling.png here; a sweep folder's report gains the study."
        ),
    ] = None,
    force: ForceOpt = False,
    jobs: JobsOpt = None,
) -> None:
    """Run each strategy at each data size, each in a fresh process, and say how each cost grows."""
    if out is None:
        raise HarnessError("--out DIR is required")
    world = load_scenario(scenario)
    counts = parse_list(sizes, "sizes", int)
    if any(n < 10 for n in counts):
        raise HarnessError("--sizes must be at least 10 conversations each")
    world_limit(max_world_mib, *(resize(world, n) for n in counts))  # before hours of runs, not at the largest
    names = strategy_names(strategies)
    from bench.render.report import load_results, write_reports  # matplotlib: loaded by the commands that draw
    from bench.render.scale import write_study

    sweep_folder = (out / "results.json").is_file()
    document = load_results(out) if sweep_folder else None  # refuse a broken results.json before hours of runs
    prepare_out(out, force=force and not sweep_folder, resume=sweep_folder)  # a sweep folder gains the study
    points = study(world, counts, names, fanout, workers, jobs or default_jobs(), max_pages)
    write_study(points, out, f"{world.name}, {fanout} x{workers}")
    if document is not None:
        write_reports(document["results"], out, document["scenarios"], jobs=jobs or default_jobs())
    table = Table(title=f"scaling: {world.name}")
    for column in ("strategy", "conversations", "host (s)", "peak MiB", "makespan (s)", "calls"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for p in sorted(points, key=lambda p: (p.strategy, p.size)):
        table.add_row(
            p.strategy,
            f"{p.size:,}",
            f"{p.host_seconds:.2f}",
            f"{p.peak_mib:.0f}",
            f"{p.makespan_s:.1f}",
            f"{p.api_calls:,}",
        )
    console = Console()
    console.print(table)
    for name in names:
        k = growth(points, name, "host_seconds")
        console.print(f"{name}: host time ~ N^{k:.2f}" if k is not None else f"{name}: one size only")
    console.print(f"wrote {out / 'scaling.md'}" + (f" and the study into {out / 'report.md'}" if sweep_folder else ""))
