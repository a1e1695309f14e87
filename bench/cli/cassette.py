"""Recorded sessions on the command line: `record`, `import`, and `run --cassette` (replay).

Registered on `bench.cli.main.app` by importing this module at the end of bench/cli.py.
Every input is checked before the first request or write, so bad input leaves
nothing behind; files are written atomically.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from bench.cli.main import (
    AccountWorkersOpt,
    AdaptiveOpt,
    Fanout,
    FanoutOpt,
    ForceOpt,
    PageSizeOpt,
    RetriesOpt,
    StrategyOpt,
    ThrottleOpt,
    WorkersOpt,
    WriteMode,
    _options,
    _row_table,
    app,
    report_run,
)
from bench.cli.real import ProfileOpt, TokenEnvOpt
from bench.errors import HarnessError
from bench.results.files import host_figures, prepare_out
from strategies import Options, UnknownStrategy, available

__all__ = ["replay_command"]


def _known(strategy: str) -> None:
    if strategy not in available():
        raise UnknownStrategy(f"unknown strategy {strategy!r} (available: {', '.join(available())})")


def _new_file(path: Path, *, force: bool, suffix: str | None = None) -> None:
    """Refuse an --out that is a folder, sits under a file, is not writable, or exists (without --force)."""
    if suffix is not None and path.suffix != suffix:
        raise HarnessError(f"--out {path} must end in {suffix}")
    if path.is_dir():
        raise HarnessError(f"--out {path} is a folder; give a file name")
    if path.exists() and not force:
        raise HarnessError(f"--out {path} exists; pass --force to overwrite it")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise HarnessError(f"--out {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise HarnessError(f"--out {path}: {parent} is not writable")


@app.command("record")
def record_command(
    base_url: Annotated[str, typer.Option("--base-url", help="The API to record (http:// or https://).")],
    out: Annotated[Path, typer.Option("--out", help="The cassette to write (vcrpy JSON, secrets scrubbed).")],
    strategy: StrategyOpt = "client-filter",
    fanout: FanoutOpt = Fanout.sequential,
    workers: WorkersOpt = 1,
    account_workers: AccountWorkersOpt = 1,
    page_size: PageSizeOpt = None,
    throttle: ThrottleOpt = None,
    max_retries: RetriesOpt = 5,
    adaptive: AdaptiveOpt = False,
    profile: ProfileOpt = None,
    token_env: TokenEnvOpt = None,
    force: ForceOpt = False,
) -> None:
    """Run a strategy against a real API in wall time and record the session (a first sync) as a cassette."""
    from bench.recordings.record import check_token, record_session, require_vcrpy
    from bench.run.real import check_base_url
    from bench.run.runner import RunSpec
    from bench.scenario.model import Scenario
    from bench.serve.server import read_token
    from strategies import ApiProfile
    from strategies.profile import load_profile

    require_vcrpy()
    _known(strategy)
    opts = _options(workers, account_workers, page_size, WriteMode.bulk, 500, throttle, max_retries, 0.0, adaptive)
    spec = RunSpec(Scenario(name="remote"), strategy, fanout.value, opts)  # refuses bad worker counts
    token = read_token(token_env)
    check_token(token)
    api_profile = load_profile(profile) if profile is not None else ApiProfile()
    _new_file(out, force=force)
    check_base_url(base_url)
    began = time.perf_counter()
    result, kept = record_session(spec, base_url, profile=api_profile, token=token, out=out)
    row = result.rows[0]
    typer.echo(
        f"recorded {kept} requests in {time.perf_counter() - began:.2f} s wall "
        f"({strategy} / {fanout.value} x{workers}, sync {row['status']}) -> {out}",
        err=True,
    )
    if row["status"] != "ok":
        typer.echo(f"the recorded sync failed: {row['error']}", err=True)
        sys.exit(1)


@app.command("import")
def import_command(
    cassette: Annotated[Path, typer.Argument(help="A cassette written by `syncbench record`.")],
    out: Annotated[Path, typer.Option("--out", help="The scenario file to write (NAME.toml).")],
    first_sync: Annotated[
        bool,
        typer.Option("--first-sync", help="Stage a first sync of everything (default: a bookmark a day back)."),
    ] = False,
    force: ForceOpt = False,
) -> None:
    """Turn a recording into a scenario: its records as a literal dataset, a latency model fitted to it."""
    from bench.recordings.cassette import load_cassette
    from bench.recordings.importer import import_cassette

    _new_file(out, force=force, suffix=".toml")
    recording = load_cassette(cassette)
    scenario = import_cassette(recording, out, first_sync=first_sync)
    literal = scenario.literal
    typer.echo(
        f"{out}: {len(literal.accounts)} accounts, {len(literal.reservations)} reservations, "
        f"{len(literal.conversations)} conversations, {len(literal.messages)} messages from "
        f"{len(recording.interactions)} requests",
        err=True,
    )


def replay_command(
    cassette: Path,
    strategy: str,
    fanout: str,
    options: Options,
    *,
    as_json: bool,
    out: Path | None,
    force: bool,
    trace: Path | None,
) -> None:
    """`syncbench run --cassette`: the recording replayed on the virtual clock, judged against its own records."""
    from bench.recordings.cassette import load_cassette
    from bench.recordings.replay import replay

    _known(strategy)
    recording = load_cassette(cassette)  # before --out is touched: a bad cassette leaves nothing behind
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    result, scenario = replay(recording, strategy, fanout, options)
    host = host_figures(time.perf_counter() - began)
    title = f"{strategy} / {fanout} x{options.workers} replaying {cassette.name}"
    table = _row_table(result.rows)
    table.title = "syncbench replay (simulated seconds, recorded latencies)"
    report_run(result, host, out=out, worlds=[scenario], trace=trace, title=title, table=table, as_json=as_json)
