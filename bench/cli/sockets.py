"""`syncbench run --base-url URL --clock real`: a strategy against a real HTTP API, in wall time.

The token comes only from an environment variable named on the command line and is
never printed, logged or written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.cli.output import report_run
from bench.errors import HarnessError
from bench.results.files import host_figures
from bench.run.real import check_base_url, run_real
from bench.run.runner import RunSpec
from bench.scenario.model import Scenario, load_scenario
from bench.secrets import read_token
from bench.world.dataset import generate
from strategies import ApiProfile, Options
from strategies.profile import load_profile

__all__ = ["run_over_sockets"]


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
    if base_url is None:
        raise HarnessError("--clock real, --profile and --token-env need --base-url (the simulator runs in-process)")
    if clock != "real":
        raise HarnessError("--base-url runs over real sockets in wall time; pass --clock real")
    if seed is not None and scenario is None:
        raise HarnessError("--seed needs --scenario (the server's world)")
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
