"""Recorded sessions on the command line: `record` and `import` (`run --cassette` replays them).

Every input is checked before the first request or write, so bad input leaves
nothing behind; files are written atomically.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from bench.cli.application import app
from bench.cli.options import (
    DEFAULTS,
    AccountWorkersOpt,
    AdaptiveOpt,
    ChunkSizeOpt,
    FanoutOpt,
    ForceOpt,
    MaxPagesOpt,
    MaxRetriesOpt,
    PageSizeOpt,
    ProfileOpt,
    StrategyOpt,
    ThrottleOpt,
    TokenEnvOpt,
    WorkersOpt,
    WriteModeOpt,
    run_options,
)
from bench.cli.output import check_writable
from bench.errors import HarnessError
from bench.recordings.cassette import load_cassette
from bench.recordings.importer import import_cassette
from bench.run.real import check_base_url
from bench.run.runner import RunSpec
from bench.scenario.model import Scenario
from bench.secrets import check_token, read_token
from strategies import ApiProfile, resolve
from strategies.profile import load_profile


def _new_file(path: Path, *, force: bool, suffix: str | None = None) -> None:
    """Refuse an --out that is a folder, sits under a file, is not writable, or exists (without --force)."""
    if suffix is not None and path.suffix != suffix:
        raise HarnessError(f"--out {path} must end in {suffix}")
    if path.exists() and not path.is_dir() and not force:
        raise HarnessError(f"--out {path} exists; pass --force to overwrite it")
    check_writable(path, "--out")


@app.command("record")
def record_command(
    base_url: Annotated[str, typer.Option("--base-url", help="The API to record (http:// or https://).")],
    out: Annotated[Path, typer.Option("--out", help="The cassette to write (vcrpy JSON, secrets scrubbed).")],
    strategy: StrategyOpt = "client-filter",
    fanout: FanoutOpt = "sequential",
    workers: WorkersOpt = DEFAULTS.workers,
    account_workers: AccountWorkersOpt = DEFAULTS.account_workers,
    page_size: PageSizeOpt = DEFAULTS.page_size,
    write_mode: WriteModeOpt = DEFAULTS.write_mode,
    chunk_size: ChunkSizeOpt = DEFAULTS.chunk_size,
    throttle: ThrottleOpt = DEFAULTS.throttle,
    adaptive: AdaptiveOpt = DEFAULTS.adaptive,
    max_retries: MaxRetriesOpt = DEFAULTS.max_retries,
    max_pages: MaxPagesOpt = DEFAULTS.max_pages,
    profile: ProfileOpt = None,
    token_env: TokenEnvOpt = None,
    force: ForceOpt = False,
) -> None:
    """Run a strategy against a real API in wall time and record the session (a first sync) as a cassette."""
    from bench.recordings.record import record_session, require_vcrpy  # unittest.mock: 15 ms of start-up

    require_vcrpy()
    resolve([strategy])
    opts = run_options(
        workers=workers,
        account_workers=account_workers,
        page_size=page_size,
        write_mode=write_mode,
        chunk_size=chunk_size,
        throttle=throttle,
        adaptive=adaptive,
        max_retries=max_retries,
        max_pages=max_pages,
    )
    spec = RunSpec(Scenario(name="remote"), strategy, fanout, opts)
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
        f"({strategy} / {fanout} x{workers}, sync {row['status']}) -> {out}",
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
    _new_file(out, force=force, suffix=".toml")
    recording = load_cassette(cassette)
    scenario = import_cassette(recording, out, first_sync=first_sync)
    literal = scenario.literal
    assert literal is not None  # an imported scenario holds the recording's records
    typer.echo(
        f"{out}: {len(literal.accounts)} accounts, {len(literal.reservations)} reservations, "
        f"{len(literal.conversations)} conversations, {len(literal.messages)} messages from "
        f"{len(recording.interactions)} requests",
        err=True,
    )
