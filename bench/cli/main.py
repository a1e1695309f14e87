"""The `syncbench` command line. Options, rows, files and exit codes follow DESIGN.md's Contracts.

Exit codes: 0 success; 1 a gate or check found a regression or loss; 2 bad input or
a harness error (one line on stderr, no traceback unless --debug); 130 interrupted.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from bench.errors import HarnessError
from bench.results.files import atomic_write, csv_text, host_figures, json_text, prepare_out, trace_csv
from bench.run.runner import RunSpec, results_document, run
from bench.run.sweep import SweepPlan, default_jobs, discard_runs, execute, load_manifest, parse_list
from bench.scenario.model import ScenarioError, load_scenario, shipped_scenarios
from strategies import Options, UnknownStrategy, available

__all__ = ["app"]

# typer may vendor its own click; find its exception classes through typer's public ones
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")

_debug = False


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"syncbench: error: {message}", err=True)
    sys.exit(code)


class _Group(TyperGroup):
    """Every error is one line on stderr with the contract's exit code; --debug adds the traceback."""

    def main(
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args=args,
                prog_name=prog_name or "syncbench",
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except _UsageError as error:
            if type(error).__name__ == "NoArgsIsHelpError" and error.ctx is not None:
                typer.echo(error.ctx.get_help())
                sys.exit(2)
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            _fail(f"{error.format_message().replace('Value error, ', '')}{hint}")
        except (typer.Abort, KeyboardInterrupt):
            _fail("interrupted", 130)
        except (HarnessError, ScenarioError, UnknownStrategy, ValueError, OSError) as error:
            if _debug:
                traceback.print_exc()
            _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
        except _ClickException as error:
            _fail(error.format_message(), error.exit_code)
        except Exception as error:  # a harness bug: still one line, the traceback with --debug
            if _debug:
                traceback.print_exc()
            _fail(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)")
        if code == 130:  # typer turns Ctrl-C into exit code 130 without a word
            _fail("interrupted; finished runs are kept (finish a sweep with --resume DIR)", 130)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Group,
    help="Benchmark sync strategies against a simulated, rate-limited API.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
)


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    global _debug
    _debug = debug


class Fanout(StrEnum):
    sequential = "sequential"
    threads = "threads"
    asyncio = "async"


class Executor(StrEnum):
    local = "local"
    dask = "dask"


class WriteMode(StrEnum):
    row = "row"
    bulk = "bulk"
    chunked = "chunked"


ScenarioOpt = Annotated[str, typer.Option("--scenario", "-s", help="A shipped scenario name or a TOML file.")]
StrategyOpt = Annotated[str, typer.Option("--strategy", help="Strategy name (see `syncbench strategies`).")]
FanoutOpt = Annotated[Fanout, typer.Option("--fanout", help="How independent calls run.")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="Fan-out width per account.")]
AccountWorkersOpt = Annotated[int, typer.Option("--account-workers", help="Accounts synced at once.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")]
PageSizeOpt = Annotated[int | None, typer.Option("--page-size", min=1, help="Page size to ask for.")]
WriteModeOpt = Annotated[WriteMode, typer.Option("--write-mode", help="Store writes: per row, per page, or chunked.")]
ChunkOpt = Annotated[int, typer.Option("--chunk-size", min=1, help="Rows per statement in chunked mode.")]
ThrottleOpt = Annotated[float | None, typer.Option("--throttle", min=0.001, help="Client-side cap, requests/s.")]
RetriesOpt = Annotated[int, typer.Option("--max-retries", min=0, help="Retries per call on 429/5xx.")]
LookbackOpt = Annotated[float, typer.Option("--lookback", min=0, help="Bookmark overlap, seconds.")]
AdaptiveOpt = Annotated[bool, typer.Option("--adaptive", help="Adjust concurrency from the answers (AIMD).")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write results.json, results.csv, host.json here.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite a non-empty --out.")]


def _options(
    workers: int,
    account_workers: int,
    page_size: int | None,
    write_mode: WriteMode,
    chunk_size: int,
    throttle: float | None,
    max_retries: int,
    lookback: float,
    adaptive: bool = False,
) -> Options:
    return Options(
        adaptive=adaptive,
        workers=workers,
        account_workers=account_workers,
        page_size=page_size,
        write_mode=write_mode.value,  # type: ignore[arg-type]
        chunk_size=chunk_size,
        throttle=throttle,
        max_retries=max_retries,
        lookback_s=lookback,
    )


def _row_table(rows: list[dict[str, Any]]) -> Table:
    """One column per result row, one line per figure: readable at any terminal width."""
    table = Table(title="syncbench run (simulated seconds)")
    table.add_column("")
    for r in rows:
        table.add_column(f"{r['strategy']} / {r['fanout']} x{r['workers']} (sync {r['sync']})", justify="right")
    figures = {
        "status": lambda r: r["status"],
        "makespan (s)": lambda r: f"{r['makespan_s']:.3f}",
        "lower bound (s)": lambda r: f"{r['lower_bound_s']:.3f}",
        "efficiency": lambda r: f"{r['efficiency']:.2f}",
        "API calls": lambda r: str(r["api_calls"]),
        "calls by endpoint": lambda r: ", ".join(f"{k} {v}" for k, v in r["calls_by_endpoint"].items()),
        "pages read": lambda r: ", ".join(f"{k} {v}" for k, v in r["pages_by_endpoint"].items()) or "-",
        "throttled / retries": lambda r: f"{r['rate_limited']} / {r['retries']}",
        "peak concurrency": lambda r: str(r["peak_concurrency"]),
        "conversations found": lambda r: f"{r['conversations_found']} of {r['conversations_expected']}",
        "messages stored": lambda r: f"{r['messages_stored']} of {r['messages_expected']}",
        "coverage": lambda r: f"{r['coverage']:.1%}",
        "over-fetched": lambda r: str(r["overfetched"]),
        "duplicates": lambda r: str(r["duplicates"]),
        "phases (s)": lambda r: ", ".join(f"{k} {v:.2f}" for k, v in r["phase_seconds"].items()),
    }
    for label, figure in figures.items():
        table.add_row(label, *(figure(r) for r in rows))
    return table


class ClockKind(StrEnum):
    virtual = "virtual"
    real = "real"


@app.command("run")
def run_command(
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            "-s",
            help="A shipped scenario name or a TOML file [default: pms-1000; "
            "with --base-url: none, and coverage is unknown].",
        ),
    ] = None,
    strategy: StrategyOpt = "client-filter",
    fanout: FanoutOpt = Fanout.sequential,
    workers: WorkersOpt = 1,
    account_workers: AccountWorkersOpt = 1,
    seed: SeedOpt = None,
    page_size: PageSizeOpt = None,
    write_mode: WriteModeOpt = WriteMode.bulk,
    chunk_size: ChunkOpt = 500,
    throttle: ThrottleOpt = None,
    max_retries: RetriesOpt = 5,
    lookback: LookbackOpt = 0.0,
    adaptive: AdaptiveOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print {results, host} as JSON.")] = False,
    out: OutOpt = None,
    force: ForceOpt = False,
    trace: Annotated[
        Path | None, typer.Option("--trace", help="Write the per-request trace (CSV) and a timeline plot.")
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Run against this API (--clock real).")] = None,
    clock: Annotated[ClockKind, typer.Option("--clock", help="virtual: in-process; real: wall.")] = ClockKind.virtual,
    profile: Annotated[Path | None, typer.Option("--profile", help="API profile TOML (with --base-url).")] = None,
    token_env: Annotated[str | None, typer.Option("--token-env", help="Variable holding the API token.")] = None,
    cassette: Annotated[
        Path | None, typer.Option("--cassette", help="Replay this recording (syncbench record) on the virtual clock.")
    ] = None,
) -> None:
    """Run one strategy's syncs and report time, calls, throttling and coverage."""
    if cassette is not None:
        from bench.cli.cassette import replay_command

        if any(v is not None for v in (scenario, seed, base_url, profile, token_env)) or clock is not ClockKind.virtual:
            raise HarnessError("--cassette replays a recording: it takes no --scenario, --seed or real-API options")
        opts = _options(
            workers, account_workers, page_size, write_mode, chunk_size, throttle, max_retries, lookback, adaptive
        )
        return replay_command(
            cassette, strategy, fanout.value, opts, as_json=as_json, out=out, force=force, trace=trace
        )
    if base_url is not None or clock is not ClockKind.virtual or profile is not None or token_env is not None:
        from bench.cli.real import run_over_sockets

        opts = _options(
            workers, account_workers, page_size, write_mode, chunk_size, throttle, max_retries, lookback, adaptive
        )
        if out is not None:
            prepare_out(out, force=force)
        return run_over_sockets(
            scenario,
            seed,
            strategy,
            fanout.value,
            opts,
            base_url=base_url,
            clock=clock.value,
            profile=profile,
            token_env=token_env,
            as_json=as_json,
            out=out,
            trace=trace,
        )
    world = load_scenario(scenario or "pms-1000", seed)
    opts = _options(
        workers, account_workers, page_size, write_mode, chunk_size, throttle, max_retries, lookback, adaptive
    )
    if strategy not in available():
        raise UnknownStrategy(f"unknown strategy {strategy!r} (available: {', '.join(available())})")
    spec = RunSpec(world, strategy, fanout.value, opts)  # refuses bad worker counts before --out is touched
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    result = run(spec)
    host = host_figures(time.perf_counter() - began)
    title = f"{strategy} / {fanout.value} x{workers} on {world.name}"
    report_run(
        result, host, out=out, worlds=[world], trace=trace, title=title, table=_row_table(result.rows), as_json=as_json
    )


def report_run(
    result: Any,
    host: dict[str, Any],
    *,
    out: Path | None,
    worlds: list[Any],
    trace: Path | None,
    title: str,
    table: Table,
    as_json: bool,
) -> None:
    """Write a run's files, print it (JSON or a table with its misses), and exit 1 if a sync failed."""
    if out is not None:
        _write_results(out, result.rows, worlds, host)
    if trace is not None:
        from bench.render.plots import timeline

        atomic_write(trace, trace_csv(result.trace))
        timeline(result.trace, trace.with_suffix(".png"), title=title)
    if as_json:
        typer.echo(json.dumps({"results": result.rows, "host": host}, indent=2))
    else:
        console = Console()
        console.print(table)
        for r in result.rows:
            if r["error"]:
                console.print(f"[red]failed:[/red] {r['error']}")
            if r.get("note"):
                console.print(r["note"])
            for miss in r["missed"]:
                console.print(f"missed conversation {miss['id']}: {miss['reason']}")
        console.print(f"host: {host['host_seconds']:.2f} s, peak memory {host['peak_memory_mib']:.0f} MiB")
    if any(r["status"] != "ok" for r in result.rows):
        sys.exit(1)


def _write_results(out: Path, rows: list[dict[str, Any]], worlds: list[Any], host: dict[str, Any]) -> None:
    atomic_write(out / "results.json", json_text(results_document(rows, worlds)))
    atomic_write(out / "results.csv", csv_text(rows))
    atomic_write(out / "host.json", json_text(host))


@app.command("sweep")
def sweep_command(
    scenario: ScenarioOpt = "pms-1000",
    strategies: Annotated[str, typer.Option("--strategies", help="Comma list of strategies, or all.")] = "all",
    fanouts: Annotated[str, typer.Option("--fanouts", help="Comma list of fan-out modes.")] = "threads,async",
    workers: Annotated[str, typer.Option("--workers", "-w", help="Comma list of worker counts.")] = "1,5,10,20",
    seeds: Annotated[str | None, typer.Option("--seeds", help="Comma list of seeds (default: the scenario's).")] = None,
    account_workers: AccountWorkersOpt = 1,
    page_size: PageSizeOpt = None,
    write_mode: WriteModeOpt = WriteMode.bulk,
    chunk_size: ChunkOpt = 500,
    throttle: ThrottleOpt = None,
    max_retries: RetriesOpt = 5,
    lookback: LookbackOpt = 0.0,
    adaptive: AdaptiveOpt = False,
    out: OutOpt = None,
    force: ForceOpt = False,
    resume: Annotated[Path | None, typer.Option("--resume", help="Finish an interrupted sweep in this folder.")] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Runs in parallel processes (default: cores).")
    ] = None,
    executor: Annotated[
        Executor, typer.Option("--executor", help="local processes, or a Dask cluster.")
    ] = Executor.local,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (tcp://host:8786).")
    ] = None,
) -> None:
    """Run every strategy x fan-out x worker count x seed; write results, reports and plots."""
    if resume is not None:
        out = resume
        plan = load_manifest(resume)
    else:
        if out is None:
            raise HarnessError("--out DIR is required (or --resume DIR)")
        names = list(available()) if strategies.strip() == "all" else parse_list(strategies, "strategies")
        counts = parse_list(workers, "workers", int)
        opts = _options(
            1, account_workers, page_size, write_mode, chunk_size, throttle, max_retries, lookback, adaptive
        )
        plan = SweepPlan(
            scenario=scenario,
            strategies=tuple(names),
            fanouts=tuple(parse_list(fanouts, "fanouts")),
            workers=tuple(counts),
            seeds=tuple(parse_list(seeds, "seeds", int)) if seeds else (None,),
            options=opts,
        )
        for count in counts:
            RunSpec(plan.scenarios()[0], names[0], "threads", Options(workers=count, account_workers=account_workers))
        prepare_out(out, force=force)
        discard_runs(out)
    specs = plan.specs()
    jobs = jobs or default_jobs()
    began = time.perf_counter()
    keep = _timeline_runs(specs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
    _write_results(out, rows, worlds, host)
    from bench.render.report import write_reports
    from bench.scenario.model import scenario_hash

    labels = {
        f"{specs[i].strategy} {specs[i].fanout} x{specs[i].options.workers}": t for i, t in sorted(traces.items())
    }
    write_reports(rows, out, {w.name: scenario_hash(w) for w in worlds}, traces=labels, jobs=jobs)
    Console().print(f"{len(rows)} rows from {len(specs)} runs in {host['host_seconds']:.1f} s -> {out}")


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
    from bench.render.report import load_results, write_reports

    document = load_results(folder)
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
