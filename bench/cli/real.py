"""Commands that leave the virtual clock: `serve` and `fidelity` (`run --base-url` is bench.cli.sockets).

Tokens come only from an environment variable named on the command line and are
never printed, logged or written.
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
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
    LookbackOpt,
    MaxPagesOpt,
    MaxRetriesOpt,
    MaxWorldOpt,
    PageSizeOpt,
    ProfileOpt,
    ScenarioOpt,
    SeedOpt,
    StrategyOpt,
    ThrottleOpt,
    TimeScaleOpt,
    TokenEnvOpt,
    WorkersListOpt,
    WriteModeOpt,
    run_options,
    worker_counts,
    world_limit,
)
from bench.results.files import atomic_write, host_figures, json_text, prepare_out
from bench.scenario.model import load_scenario
from bench.serve.server import run_server
from bench.studies.fidelity import fidelity_document, run_fidelity
from strategies import resolve


class Epoch(StrEnum):
    startup = "startup"
    first_request = "first-request"


# -- serve ---------------------------------------------------------------------------------


@app.command("serve")
def serve_command(
    scenario: ScenarioOpt = "pms-1000",
    seed: SeedOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback unless --allow-remote).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port).")] = 8000,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a non-loopback --host.")] = False,
    time_scale: TimeScaleOpt = 1.0,
    epoch: Annotated[
        Epoch, typer.Option("--epoch", help="When t=0 is: server start, or its first request (aligns limit windows).")
    ] = Epoch.startup,
    profile: ProfileOpt = None,
    token_env: TokenEnvOpt = None,
    max_world_mib: MaxWorldOpt = DEFAULT_MAX_MIB,
) -> None:
    """Serve the simulated API over HTTP in wall time (one log line per request on stderr)."""
    world_limit(max_world_mib)  # the server builds its world, and checks it, before it listens
    run_server(
        scenario,
        seed=seed,
        host=host,
        port=port,
        allow_remote=allow_remote,
        time_scale=time_scale,
        epoch=epoch.value,
        profile=profile,
        token_env=token_env,
    )


# -- fidelity ---------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _fidelity_table(points: list[Any], time_scale: float) -> Table:
    unit = "s" if time_scale == 1 else f"s, time scale {time_scale:g}"
    table = Table(title=f"fidelity: virtual clock vs real sockets (makespan in {unit})")
    for name in (
        "strategy",
        "fan-out",
        "w",
        "virtual",
        "real",
        "error",
        "calls v/r",
        "429 v/r",
        "coverage v/r",
        "conn v/r",
        "lag",
        "binds",
        "verdict",
    ):
        table.add_column(name, justify="left" if name in ("strategy", "fan-out", "verdict") else "right")
    for p in points:
        v, r = p.virtual, p.real
        problems = p.problems()
        lag = p.drift.get("final_lag_s")
        table.add_row(
            p.strategy,
            p.fanout,
            str(p.workers) + (f" (sync {p.sync})" if p.sync else ""),
            f"{v['makespan_s']:.3f}",
            f"{r['makespan_s']:.3f}",
            _pct(p.error("makespan_s")),
            f"{v['api_calls']}/{r['api_calls']}",
            f"{v['rate_limited']}/{r['rate_limited']}",
            f"{v['coverage']:.3f}/{r['coverage']:.3f}",
            f"{v['connections']}/{r['connections']}",
            "" if lag is None else f"{lag * 1000:+.0f} ms",
            "yes" if p.binds else "no",
            "ok" if not problems else "[red]" + "; ".join(problems) + "[/red]",
        )
    return table


def _alignment_notes(points: list[Any]) -> list[str]:
    """For points where the limit binds, what the difference in throttled calls comes from."""
    notes = []
    for p in points:
        a = p.drift
        if not p.binds or a.get("lag_at_first_throttle_s") is None:
            continue
        moved = a.get("first_attempts_in_another_window")
        notes.append(
            f"{p.strategy} / {p.fanout} x{p.workers}: throttled {p.virtual['rate_limited']} virtual vs "
            f"{p.real['rate_limited']} real; the real run was {a['lag_at_first_throttle_s'] * 1000:+.0f} ms behind "
            f"at the first throttled call"
            + (
                f", and {moved} of {a['matched']} first attempts reached the server in another limit window"
                if moved is not None
                else ""
            )
        )
    return notes


@app.command("fidelity")
def fidelity_command(
    scenario: ScenarioOpt = "pms-1000",
    strategy: StrategyOpt = "client-filter",
    fanout: FanoutOpt = "threads",
    workers: WorkersListOpt = "1,5,10,20",
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
    time_scale: TimeScaleOpt = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print fidelity.json's document.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write fidelity.json, .png, host.json here.")] = None,
    force: ForceOpt = False,
) -> None:
    """Run each worker count in virtual time and over loopback in wall time; compare makespan, calls, throttling.

    Exit 1 when a point misses its target (makespan within 10%, or 20% where the rate
    limit binds; coverage and admitted calls equal).
    """
    from bench.render.fidelity import plot_fidelity  # matplotlib: loaded by the commands that draw

    resolve([strategy])
    counts = worker_counts(workers)
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
    world = load_scenario(scenario, seed)
    world_limit(max_world_mib, world)
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    console = Console(stderr=True)
    points = run_fidelity(
        scenario,
        strategy,
        fanout,
        counts,
        opts,
        seed=seed,
        time_scale=time_scale,
        on_point=lambda p: console.print(
            f"{p.strategy} / {p.fanout} x{p.workers}: virtual {p.virtual['makespan_s']:.3f} s, "
            f"real {p.real['makespan_s']:.3f} s ({_pct(p.error('makespan_s'))})"
        ),
    )
    document = fidelity_document(points, scenario=world.name, seed=world.seed, time_scale=time_scale)
    if out is not None:
        atomic_write(out / "fidelity.json", json_text(document))
        atomic_write(out / "host.json", json_text(host_figures(time.perf_counter() - began)))
        plot_fidelity(points, out / "fidelity.png", title=f"{world.name}: virtual (solid) vs real (dashed)")
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        out_console = Console()
        if not out_console.is_terminal:
            out_console = Console(width=170)  # a file or pipe: keep each row on one line
        out_console.print(_fidelity_table(points, time_scale))
        for note in _alignment_notes(points):
            out_console.print(note)
    if any(p.problems() for p in points):
        sys.exit(1)
