"""What `run` (virtual, over sockets, or replaying a cassette) writes and prints for its rows."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.errors import HarnessError
from bench.results.files import atomic_write, csv_text, json_text, results_document, trace_csv
from bench.run.runner import RunResult
from bench.scenario.model import Scenario

__all__ = ["check_writable", "report_run", "row_table", "write_results"]


def check_writable(path: Path, option: str) -> None:
    """Refuse a file path that cannot be written (under a file, in a read-only or virtual folder such as
    /proc) before anything runs, so no run's work is lost at the end; it leaves nothing behind."""
    if path.is_dir():
        raise HarnessError(f"{option} {path} is a folder; give a file name")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise HarnessError(f"{option} {path}: {parent} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise HarnessError(f"{option} {path}: cannot write in {parent} ({error.strerror or error})") from None


def row_table(rows: list[dict[str, Any]]) -> Table:
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


def report_run(
    result: RunResult,
    host: dict[str, Any],
    *,
    out: Path | None,
    worlds: list[Scenario],
    trace: Path | None,
    title: str,
    table: Table,
    as_json: bool,
) -> None:
    """Write a run's files, print it (JSON or a table with its misses), and exit 1 if a sync failed."""
    if out is not None:
        write_results(out, result.rows, worlds, host)
    if trace is not None:
        from bench.render.plots import timeline  # matplotlib: loaded only when a timeline is drawn

        atomic_write(trace, trace_csv(result.trace))
        timeline(result.trace, trace.with_suffix(".png"), title=title)
    if as_json:
        typer.echo(json.dumps({"results": result.rows, "host": host}, indent=2))
    else:
        console = Console()
        console.print(table)
        for r in result.rows:
            if r["error"]:
                console.print(f"[red]failed:[/red] {escape(r['error'])}")
            if r.get("note"):
                console.print(escape(r["note"]))
            for miss in r["missed"]:
                console.print(f"missed conversation {miss['id']}: {escape(miss['reason'])}")
        console.print(f"host: {host['host_seconds']:.2f} s, peak memory {host['peak_memory_mib']:.0f} MiB")
    if any(r["status"] != "ok" for r in result.rows):
        sys.exit(1)


def write_results(out: Path, rows: list[dict[str, Any]], worlds: list[Scenario], host: dict[str, Any]) -> None:
    """results.json, results.csv and host.json in `out`."""
    atomic_write(out / "results.json", json_text(results_document(rows, worlds)))
    atomic_write(out / "results.csv", csv_text(rows))
    atomic_write(out / "host.json", json_text(host))
