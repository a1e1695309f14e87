"""Commands that leave the virtual clock: `serve`, `fidelity`, and `run --base-url ... --clock real`.

Registered on `bench.cli.main.app` by importing this module at the end of bench/cli.py.
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

from bench.cli.main import ForceOpt, ScenarioOpt, SeedOpt, app, report_run
from bench.errors import HarnessError
from bench.results.files import atomic_write, host_figures, json_text, prepare_out
from bench.run.sweep import parse_list
from bench.scenario.model import Scenario, load_scenario
from strategies import ApiProfile, Options, UnknownStrategy, available
from strategies.profile import load_profile

__all__ = ["run_over_sockets"]


class Epoch(StrEnum):
    startup = "startup"
    first_request = "first-request"


ProfileOpt = Annotated[Path | None, typer.Option("--profile", help="API profile TOML: paths, fields, paging, auth.")]
TokenEnvOpt = Annotated[
    str | None, typer.Option("--token-env", help="Name of the environment variable holding the API token.")
]
TimeScaleOpt = Annotated[
    float, typer.Option("--time-scale", min=0.001, max=1000.0, help="Multiply every latency and limit window.")
]


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
) -> None:
    """Serve the simulated API over HTTP in wall time (one log line per request on stderr)."""
    from bench.serve.server import run_server

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
    )  # type: ignore[arg-type]


# -- run over sockets ---------------------------------------------------------------------------


def _real_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="syncbench run over sockets (wall seconds)")
    table.add_column("")
    for r in rows:
        table.add_column(f"{r['strategy']} / {r['fanout']} x{r['workers']} (sync {r['sync']})", justify="right")

    def coverage(r: dict[str, Any]) -> str:
        if r["coverage"] is None:
            return "unknown"
        return f"{r['coverage']:.1%} ({r['conversations_found']} of {r['conversations_expected']})"

    figures = {
        "status": lambda r: r["status"],
        "makespan (s)": lambda r: f"{r['makespan_s']:.3f}",
        "API calls": lambda r: str(r["api_calls"]),
        "calls by endpoint": lambda r: ", ".join(f"{k} {v}" for k, v in r["calls_by_endpoint"].items()),
        "throttled / retries": lambda r: f"{r['rate_limited']} / {r['retries']}",
        "peak concurrency": lambda r: str(r["peak_concurrency"]),
        "connections": lambda r: str(r["connections"]),
        "coverage": coverage,
    }
    for label, figure in figures.items():
        table.add_row(label, *(figure(r) for r in rows))
    return table


def run_over_sockets(
    scenario: str | None,
    seed: int | None,
    strategy: str,
    fanout: str,
    options: Options,
    *,
    base_url: str | None,
    clock: str,
    profile: Path | None,
    token_env: str | None,
    as_json: bool,
    out: Path | None,
    trace: Path | None,
) -> None:
    """`syncbench run --base-url URL --clock real`: the strategy against a real HTTP API."""
    from bench.run.real import check_base_url, run_real
    from bench.run.runner import RunSpec
    from bench.serve.server import read_token
    from bench.world.dataset import generate

    if base_url is None:
        raise HarnessError("--clock real, --profile and --token-env need --base-url (the simulator runs in-process)")
    if clock != "real":
        raise HarnessError("--base-url runs over real sockets in wall time; pass --clock real")
    if seed is not None and scenario is None:
        raise HarnessError("--seed needs --scenario (the server's world)")
    if strategy not in available():
        raise UnknownStrategy(f"unknown strategy {strategy!r} (available: {', '.join(available())})")
    token = read_token(token_env)
    world = generate(load_scenario(scenario, seed)) if scenario is not None else None
    scen = world.scenario if world is not None else Scenario(name="remote")
    api_profile = ApiProfile(
        pagination=scen.dialect.pagination,
        page_size=scen.dialect.page_size,
        since_format=scen.dialect.since_format,
    )
    if profile is not None:
        api_profile = load_profile(profile, api_profile)
    check_base_url(base_url)
    began = time.perf_counter()
    result = run_real(RunSpec(scen, strategy, fanout, options), base_url, world=world, profile=api_profile, token=token)
    host = host_figures(time.perf_counter() - began)
    worlds = [world.scenario] if world is not None else []
    title = f"{strategy} / {fanout} x{options.workers} (real)"
    report_run(
        result, host, out=out, worlds=worlds, trace=trace, title=title, table=_real_table(result.rows), as_json=as_json
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
    strategy: Annotated[str, typer.Option("--strategy", help="Strategy name, or a comma list.")] = "client-filter",
    fanout: Annotated[str, typer.Option("--fanout", help="threads or async, or a comma list.")] = "threads",
    workers: Annotated[str, typer.Option("--workers", "-w", help="Comma list of worker counts.")] = "1,5,10,20",
    seed: SeedOpt = None,
    time_scale: TimeScaleOpt = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print fidelity.json's document.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write fidelity.json, .png, host.json here.")] = None,
    force: ForceOpt = False,
) -> None:
    """Run each point in virtual time and over loopback in wall time; compare makespan, calls, throttling.

    Exit 1 when a point misses its target (makespan within 10%, or 20% where the rate
    limit binds; coverage and admitted calls equal).
    """
    from bench.studies.fidelity import fidelity_document, plot, run_fidelity

    names = parse_list(strategy, "strategy")
    unknown = [n for n in names if n not in available()]
    if unknown:
        raise UnknownStrategy(f"unknown strategy {unknown[0]!r} (available: {', '.join(available())})")
    modes = parse_list(fanout, "fanout")
    if any(m not in ("threads", "async", "sequential") for m in modes):
        raise HarnessError("--fanout must be threads, async or sequential (or a comma list of them)")
    counts = parse_list(workers, "workers", int)
    if any(c < 1 for c in counts):
        raise HarnessError("--workers must be positive worker counts")
    world = load_scenario(scenario, seed)
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    console = Console(stderr=True)
    points = run_fidelity(
        scenario,
        names,
        modes,
        counts,
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
        plot(points, out / "fidelity.png", title=f"{world.name}: virtual (solid) vs real (dashed)")
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
