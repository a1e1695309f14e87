"""`syncbench run`, `sweep`, `report` and the listings: the commands of the virtual clock's runs.

Options, rows, files and exit codes follow docs/design.md's Contracts; the error policy
lives in bench.cli.application, the shared options in bench.cli.options.
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.cli.application import app
from bench.cli.options import (
    DEFAULT_MAX_MIB,
    DEFAULTS,
    AccountWorkersOpt,
    AdaptiveOpt,
    ChunkSizeOpt,
    FanoutOpt,
    FanoutsOpt,
    ForceOpt,
    JobsOpt,
    LookbackOpt,
    MaxPagesOpt,
    MaxRetriesOpt,
    MaxWorldOpt,
    MaybeScenarioOpt,
    PageSizeOpt,
    ProfileOpt,
    ScenarioOpt,
    SeedOpt,
    SeedsOpt,
    StrategiesOpt,
    StrategyOpt,
    ThrottleOpt,
    TokenEnvOpt,
    WorkersListOpt,
    WorkersOpt,
    WriteModeOpt,
    given,
    run_options,
    strategy_names,
    worker_counts,
    world_limit,
)
from bench.cli.output import check_writable, report_run, row_table, write_results
from bench.cli.replay import replay_cassette
from bench.cli.sockets import run_over_sockets
from bench.errors import HarnessError
from bench.results.files import host_figures, prepare_out, remove_leftovers
from bench.run.runner import RunSpec, run
from bench.run.sweep import (
    SweepPlan,
    default_jobs,
    execute,
    load_manifest,
    parse_list,
    scenario_reference,
)
from bench.scenario.model import load_scenario, scenario_hash, shipped_scenarios
from strategies import available, resolve

__all__ = ["app"]


class Executor(StrEnum):
    local = "local"
    dask = "dask"


class ClockKind(StrEnum):
    virtual = "virtual"
    real = "real"


#: what `sweep --resume` takes beside it: how to run, not what (that is the manifest's)
RESUME_TAKES = ("resume", "jobs", "executor", "scheduler", "max_world_mib")

OutOpt = Annotated[Path | None, typer.Option("--out", help="Write results.json, results.csv, host.json here.")]


@app.command("run")
def run_command(
    ctx: typer.Context,
    scenario: MaybeScenarioOpt = None,
    strategy: StrategyOpt = "client-filter",
    fanout: FanoutOpt = "sequential",
    workers: WorkersOpt = DEFAULTS.workers,
    account_workers: AccountWorkersOpt = DEFAULTS.account_workers,
    seed: SeedOpt = None,
    page_size: PageSizeOpt = DEFAULTS.page_size,
    write_mode: WriteModeOpt = DEFAULTS.write_mode,
    chunk_size: ChunkSizeOpt = DEFAULTS.chunk_size,
    throttle: ThrottleOpt = DEFAULTS.throttle,
    adaptive: AdaptiveOpt = DEFAULTS.adaptive,
    max_retries: MaxRetriesOpt = DEFAULTS.max_retries,
    lookback: LookbackOpt = DEFAULTS.lookback_s,
    max_pages: MaxPagesOpt = DEFAULTS.max_pages,
    max_world_mib: MaxWorldOpt = DEFAULT_MAX_MIB,
    as_json: Annotated[bool, typer.Option("--json", help="Print {results, host} as JSON.")] = False,
    out: OutOpt = None,
    force: ForceOpt = False,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the per-request trace (CSV) and a timeline plot.")
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Run against this API (--clock real).")] = None,
    clock: Annotated[ClockKind, typer.Option("--clock", help="virtual: in-process; real: wall.")] = ClockKind.virtual,
    profile: ProfileOpt = None,
    token_env: TokenEnvOpt = None,
    cassette: Annotated[
        Path | None, typer.Option("--cassette", help="Replay this recording (syncbench record) on the virtual clock.")
    ] = None,
) -> None:
    """Run one strategy's syncs and report time, calls, throttling and coverage.

    The scenario is pms-1000 unless --scenario names one; with --base-url there is none
    unless named (the server's world), and coverage is then unknown.
    """
    resolve([strategy])
    if trace is not None:
        check_writable(trace, "--trace")  # before the run: a path it cannot write would lose the run
    opts = run_options(
        workers=workers,
        account_workers=account_workers,
        page_size=page_size,
        write_mode=write_mode,
        chunk_size=chunk_size,
        throttle=throttle,
        adaptive=adaptive,
        max_retries=max_retries,
        lookback=lookback,
        max_pages=max_pages,
    )
    if cassette is not None:
        if any(v is not None for v in (scenario, seed, base_url, profile, token_env)) or clock is not ClockKind.virtual:
            raise HarnessError("--cassette replays a recording: it takes no --scenario, --seed or real-API options")
        if given(ctx, "max_world_mib"):
            raise HarnessError(
                "--cassette replays a recording, whose world is its records: it takes no --max-world-mib"
            )
        return replay_cassette(cassette, strategy, fanout, opts, as_json=as_json, out=out, force=force, trace=trace)
    if base_url is not None or clock is not ClockKind.virtual or profile is not None or token_env is not None:
        world_limit(max_world_mib)  # the world of --scenario is built, and checked, before the first request
        if out is not None:
            prepare_out(out, force=force)
        return run_over_sockets(
            scenario,
            seed,
            strategy,
            fanout,
            opts,
            base_url=base_url,
            clock=clock.value,
            profile=profile,
            token_env=token_env,
            as_json=as_json,
            out=out,
            trace=trace,
        )
    world = load_scenario("pms-1000" if scenario is None else scenario, seed)
    world_limit(max_world_mib, world)
    spec = RunSpec(world, strategy, fanout, opts)  # refuses bad worker counts before --out is touched
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    result = run(spec)
    host = host_figures(time.perf_counter() - began)
    title = f"{strategy} / {fanout} x{workers} on {world.name}"
    report_run(
        result, host, out=out, worlds=[world], trace=trace, title=title, table=row_table(result.rows), as_json=as_json
    )


@app.command("sweep")
def sweep_command(
    ctx: typer.Context,
    scenario: ScenarioOpt = "pms-1000",
    strategies: StrategiesOpt = "all",
    fanouts: FanoutsOpt = "threads,async",
    workers: WorkersListOpt = "1,5,10,20",
    account_workers: AccountWorkersOpt = DEFAULTS.account_workers,
    seeds: SeedsOpt = None,
    page_size: PageSizeOpt = DEFAULTS.page_size,
    write_mode: WriteModeOpt = DEFAULTS.write_mode,
    chunk_size: ChunkSizeOpt = DEFAULTS.chunk_size,
    throttle: ThrottleOpt = DEFAULTS.throttle,
    adaptive: AdaptiveOpt = DEFAULTS.adaptive,
    max_retries: MaxRetriesOpt = DEFAULTS.max_retries,
    lookback: LookbackOpt = DEFAULTS.lookback_s,
    max_pages: MaxPagesOpt = DEFAULTS.max_pages,
    max_world_mib: MaxWorldOpt = DEFAULT_MAX_MIB,
    out: OutOpt = None,
    force: ForceOpt = False,
    resume: Annotated[Path | None, typer.Option("--resume", help="Finish an interrupted sweep in this folder.")] = None,
    jobs: JobsOpt = None,
    executor: Annotated[
        Executor, typer.Option("--executor", help="local processes, or a Dask cluster.")
    ] = Executor.local,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786).")
    ] = None,
) -> None:
    """Run every strategy x fan-out x worker count x seed; write results, reports and plots."""
    if resume is not None:
        fixed = given(ctx, but=RESUME_TAKES)
        if fixed:
            raise HarnessError(
                f"--resume takes the sweep's settings from its manifest; drop {', '.join(fixed)}"
                " (only --jobs, --executor, --scheduler and --max-world-mib go with it)"
            )
        out = resume
        plan = load_manifest(resume)
        world_limit(max_world_mib, *plan.scenarios())
    else:
        if out is None:
            raise HarnessError("--out DIR is required (or --resume DIR)")
        opts = run_options(
            account_workers=account_workers,
            page_size=page_size,
            write_mode=write_mode,
            chunk_size=chunk_size,
            throttle=throttle,
            adaptive=adaptive,
            max_retries=max_retries,
            lookback=lookback,
            max_pages=max_pages,
        )
        plan = SweepPlan(
            scenario=scenario_reference(scenario),
            strategies=tuple(strategy_names(strategies)),
            fanouts=tuple(parse_list(fanouts, "fanouts")),
            workers=tuple(worker_counts(workers)),
            seeds=(None,) if seeds is None else tuple(parse_list(seeds, "seeds", int)),
            options=opts,
        )
        world_limit(max_world_mib, *plan.scenarios())  # every seed's scenario loads before --out is touched
        prepare_out(out, force=force)  # with --force, an earlier sweep's saved runs go too: only --resume reuses them
    specs = plan.specs()
    jobs = jobs or default_jobs()
    began = time.perf_counter()
    keep = _timeline_runs(specs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("sweep", total=len(specs))

        def done(spec: RunSpec) -> None:
            progress.update(task, advance=1, description=f"{spec.strategy} {spec.fanout} x{spec.options.workers}")

        rows, traces = execute(
            plan, out, jobs=jobs, keep_traces=set(keep), on_done=done, executor=executor.value, scheduler=scheduler
        )
    host = host_figures(time.perf_counter() - began) | {"jobs": jobs, "runs": len(specs)}
    worlds = plan.scenarios()
    write_results(out, rows, worlds, host)
    from bench.render.report import write_reports  # matplotlib: loaded by the commands that draw

    labels = {
        f"{specs[i].strategy} {specs[i].fanout} x{specs[i].options.workers}": t for i, t in sorted(traces.items())
    }
    write_reports(rows, out, {w.name: scenario_hash(w) for w in worlds}, traces=labels, jobs=jobs)
    Console().print(f"{len(rows)} rows from {len(specs)} runs in {host['host_seconds']:.1f} s -> {out}")
    if any(r["status"] != "ok" for r in rows):
        sys.exit(1)  # a failed row fails the sweep (Contracts); its rows and reports are written


def _timeline_runs(specs: list[RunSpec]) -> list[int]:
    """The runs whose timelines the report shows: the two largest worker counts of the
    first parallel fan-out of the first strategy, which show where more workers stop helping."""
    first = next((s for s in specs if s.fanout != "sequential"), None)
    if first is None:
        return []
    same = [
        i
        for i, s in enumerate(specs)
        if (s.strategy, s.fanout, s.scenario.seed) == (first.strategy, first.fanout, first.scenario.seed)
    ]
    return sorted(same, key=lambda i: specs[i].options.workers)[-2:]


@app.command("report")
def report_command(
    folder: Annotated[Path, typer.Argument(help="A folder holding results.json (from run --out or sweep).")],
) -> None:
    """Rebuild report.md, report.html and the plots from a folder's results.json."""
    from bench.render.report import load_results, write_reports  # matplotlib: loaded by the commands that draw

    document = load_results(folder)
    remove_leftovers(folder)
    written = write_reports(document["results"], folder, document["scenarios"], jobs=default_jobs())
    Console().print(f"wrote {len(written)} files to {folder}")


@app.command("scenarios")
def scenarios_command() -> None:
    """List the shipped scenarios."""
    table = Table(title="shipped scenarios")
    table.add_column("name")
    table.add_column("description")
    for name in shipped_scenarios():
        table.add_row(name, load_scenario(name).description)
    Console().print(table)


@app.command("strategies")
def strategies_command() -> None:
    """List the registered strategies, plugins included."""
    table = Table(title="strategies")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("what it does")
    for name, cls in available().items():
        table.add_row(name, "full" if cls.full else "incremental", cls.summary)
    Console().print(table)
