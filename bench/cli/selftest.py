"""`syncbench selftest --overhead`: the harness's host cost next to plain httpx."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.cli.application import app
from bench.errors import HarnessError


@app.command("selftest")
def selftest_command(
    overhead: Annotated[
        bool, typer.Option("--overhead", help="Full stack vs plain httpx, requests per host second.")
    ] = False,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, max=31, help="Pairs of runs per mode; the median pair is shown.")
    ] = 7,
    as_json: Annotated[bool, typer.Option("--json", help='Print {"modes": {mode: {...}}} as JSON.')] = False,
) -> None:
    """Measure the harness itself on this machine (host figures: they vary between machines)."""
    if not overhead:
        raise HarnessError("nothing to measure: pass --overhead")
    from bench.studies.selftest import overhead as measure  # unittest.mock: 15 ms of start-up

    result = measure(repeats)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title="harness overhead: full-pagination on pms-1000 (target ratio >= 0.5)")
    for column in ("mode", "requests", "full stack req/s", "plain httpx req/s", "ratio", "pairs' range"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode, m in result["modes"].items():
        table.add_row(
            mode,
            str(m["requests"]),
            f"{m['full_stack_rps']:.0f}",
            f"{m['plain_rps']:.0f}",
            f"{m['ratio']:.2f}",
            f"{m['spread'][0]:.2f}-{m['spread'][1]:.2f}",
        )
    Console().print(table)
