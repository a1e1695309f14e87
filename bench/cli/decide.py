"""`syncbench recommend` and `syncbench gate`: the commands that turn runs into decisions.

The logic lives in bench.studies.recommend, bench.analysis.usl and bench.studies.gate; this
module only parses options and prints.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bench.cli.application import app
from bench.cli.options import (
    DEFAULT_MAX_MIB,
    DEFAULTS,
    AccountWorkersOpt,
    AdaptiveOpt,
    ChunkSizeOpt,
    FanoutOpt,
    ForceOpt,
    JobsOpt,
    LookbackOpt,
    MaxPagesOpt,
    MaxRetriesOpt,
    MaxWorldOpt,
    PageSizeOpt,
    ScenarioOpt,
    SeedOpt,
    StrategyOpt,
    ThrottleOpt,
    WorkersListOpt,
    WriteModeOpt,
    run_options,
    worker_counts,
    world_limit,
)
from bench.errors import HarnessError
from bench.render import gate as gate_report
from bench.results.files import atomic_write, prepare_out
from bench.run.sweep import default_jobs
from bench.scenario.model import load_scenario
from bench.studies import gate as gating
from strategies import resolve

__all__ = ["gate_command", "recommend_command"]


def _points_table(document: dict[str, Any]) -> Table:
    table = Table(title="syncbench recommend (simulated seconds)")
    for name in ("workers", "time (s)", "calls", "throttled", "missed", "calls/s", "USL fit", "verdict"):
        table.add_column(name, justify="left" if name == "verdict" else "right")
    for p in document["points"]:
        fitted = p["fitted_throughput"]
        table.add_row(
            str(p["workers"]),
            f"{p['makespan_s']:.3f}" if p["status"] == "ok" else "failed",
            str(p["api_calls"]),
            f"{p['rate_limited']} ({p['throttled_share']:.1%})",
            str(p["conversations_missed"]),
            f"{p['throughput']:.2f}",
            "-" if fitted is None else f"{fitted:.2f}",
            p["verdict"],
        )
    return table


@app.command("recommend")
def recommend_command(
    scenario: ScenarioOpt,
    strategy: StrategyOpt,
    fanout: FanoutOpt = "threads",
    workers: WorkersListOpt = "1,2,4,8,12,16,24,32,48,64",
    margin: Annotated[str, typer.Option("--margin", help="How far from the best time still counts, e.g. 5%.")] = "5%",
    max_throttled: Annotated[
        str, typer.Option("--max-throttled", help="Largest share of calls that may be throttled, e.g. 1%.")
    ] = "1%",
    seed: SeedOpt = None,
    account_workers: AccountWorkersOpt = DEFAULTS.account_workers,
    page_size: PageSizeOpt = DEFAULTS.page_size,
    write_mode: WriteModeOpt = DEFAULTS.write_mode,
    chunk_size: ChunkSizeOpt = DEFAULTS.chunk_size,
    throttle: ThrottleOpt = DEFAULTS.throttle,
    adaptive: AdaptiveOpt = DEFAULTS.adaptive,
    max_retries: MaxRetriesOpt = DEFAULTS.max_retries,
    lookback: LookbackOpt = DEFAULTS.lookback_s,
    max_pages: MaxPagesOpt = DEFAULTS.max_pages,
    max_world_mib: MaxWorldOpt = DEFAULT_MAX_MIB,
    as_json: Annotated[bool, typer.Option("--json", help="Print the recommendation as JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write recommend.json and recommend.png here.")] = None,
    force: ForceOpt = False,
    jobs: JobsOpt = None,
) -> None:
    """Recommend a worker default: the fewest workers within a margin of the best time, no misses, little throttling."""
    from bench.studies import recommend as rec  # numpy: loaded by the commands that use it

    if fanout == "sequential":
        raise HarnessError("recommend compares worker counts: use --fanout threads or --fanout async")
    resolve([strategy])
    counts = worker_counts(workers)
    share, cap = rec.parse_share(margin, "margin"), rec.parse_share(max_throttled, "max-throttled")
    if cap > 1:
        raise HarnessError(f"--max-throttled is a share of the calls: at most 100%, not {max_throttled!r}")
    world_limit(max_world_mib, load_scenario(scenario, seed))  # a bad scenario is refused before --out is touched
    if out is not None:
        prepare_out(out, force=force)
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
    rows, world = rec.measure_points(scenario, strategy, fanout, counts, opts, seed, jobs or default_jobs())
    result = rec.recommend(
        rec.points_from_rows(rows),
        margin=share,
        max_throttled=cap,
        ceiling=rec.rate_limit_ceiling(world, account_workers),
    )
    document = rec.recommendation_document(result, rec.settings_of(world, strategy, fanout, opts))
    if out is not None:
        atomic_write(out / "recommend.json", rec.document_text(document))
        from bench.render.recommend import plot_recommendation  # matplotlib: loaded only to draw

        plot_recommendation(document, out / "recommend.png")
    if as_json:
        typer.echo(rec.document_text(document), nl=False)
    else:
        Console(width=max(Console().width, 100)).print(_points_table(document))
        head = "no recommendation" if result.recommended_workers is None else "recommended"
        typer.echo(f"{head}: {result.reason}")
        typer.echo(rec.usl_text(result))
        if out is not None:
            typer.echo(f"wrote {out / 'recommend.json'} and {out / 'recommend.png'}")
    if result.recommended_workers is None:
        sys.exit(1)


@app.command("gate")
def gate_command(
    baseline: Annotated[Path, typer.Option("--baseline", help="The baseline to compare with.")] = (
        gating.DEFAULT_BASELINE
    ),
    threshold: Annotated[str, typer.Option("--threshold", help="Makespan worsening that fails, e.g. 5%.")] = "5%",
    update: Annotated[bool, typer.Option("--update", help="Re-measure the entries and rewrite the baseline.")] = False,
    jobs: JobsOpt = None,
) -> None:
    """Rerun the baseline's matrix; exit 1 on slower runs, more API calls, lower coverage or non-determinism."""
    from bench.studies.recommend import parse_share  # numpy: loaded by the commands that use it

    limit = parse_share(threshold, "threshold")
    began = time.perf_counter()
    previous = None
    if update and not baseline.exists():
        runs = list(gating.DEFAULT_MATRIX)
    else:
        previous = gating.load_baseline(baseline, strict=not update)
        runs = previous.runs()
    specs = [r.spec() for r in runs]
    scenarios = list({s.scenario.name: s.scenario for s in specs}.values())
    if not update:
        assert previous is not None
        gating.check_validity(previous, gating.validity(scenarios))
    workers = jobs or default_jobs()
    runs_rows, again = gating.measure(runs, workers)
    problem = gating.determinism_check(runs, runs_rows, again)
    determinism = gating.determinism_line(runs, runs_rows, problem)
    took = f"{len(runs)} runs (+1 determinism rerun) in {time.perf_counter() - began:.1f} s on {workers} process(es)"
    if update:
        if problem is not None:
            typer.echo(determinism)
            typer.echo("syncbench: baseline not written: the runs are not deterministic", err=True)
            sys.exit(1)
        document = gating.build_baseline(runs_rows, scenarios, previous)
        gating.write_baseline(baseline, document)
        v = document["validity"]
        typer.echo(
            f"recorded {len(document['entries'])} entries from {len(runs)} runs to {baseline}"
            f" (syncbench {v['syncbench']}, Python {v['python']}, scenarios {', '.join(sorted(v['scenarios']))})"
        )
        typer.echo(determinism)
        typer.echo(f"gate: {took}", err=True)
        return
    assert previous is not None
    verdicts = gating.compare(previous, runs_rows, limit)
    report = gate_report.markdown(verdicts, limit, previous.floor_s, determinism)
    typer.echo(report)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(report + "\n")
    typer.echo(f"gate: {took}", err=True)
    failed = [v.label for v in verdicts if v.regression]
    if problem is not None:
        failed.append("determinism")
    if failed:
        typer.echo(f"syncbench: gate failed: {'; '.join(failed)}", err=True)
        sys.exit(1)
