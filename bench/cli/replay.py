"""`syncbench run --cassette`: a recording replayed on the virtual clock."""

from __future__ import annotations

import time
from pathlib import Path

from bench.cli.output import report_run, row_table
from bench.recordings.cassette import load_cassette
from bench.recordings.replay import replay
from bench.results.files import host_figures, prepare_out
from strategies import Options

__all__ = ["replay_cassette"]


def replay_cassette(
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
    recording = load_cassette(cassette)  # before --out is touched: a bad cassette leaves nothing behind
    if out is not None:
        prepare_out(out, force=force)
    began = time.perf_counter()
    result, scenario = replay(recording, strategy, fanout, options)
    host = host_figures(time.perf_counter() - began)
    title = f"{strategy} / {fanout} x{options.workers} replaying {cassette.name}"
    table = row_table(result.rows)
    table.title = "syncbench replay (simulated seconds, recorded latencies)"
    report_run(result, host, out=out, worlds=[scenario], trace=trace, title=title, table=table, as_json=as_json)
