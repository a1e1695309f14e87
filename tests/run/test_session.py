"""Every way of syncing goes through one session: virtual runs, real-socket runs and the property
tests' stepped syncs agree on bookmarks, dialect and lookback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.run.real import run_real
from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario, load_scenario
from bench.serve.server import ServerProcess
from bench.world.dataset import generate
from strategies import Options
from tests.properties.harness import Session
from tests.serve.test_server import FIGURES, tiny_scenario

DATE_DIALECT = {
    "name": "date-dialect",
    "seed": 5,
    "dataset": {"accounts": 1, "conversations": 12, "orphans": 1, "messages": [1, 3], "history_days": 10},
    "activity": {"cutoff_ago_s": 7200, "active": 5, "active_orphans": 1},
    "dialect": {"pagination": "offset", "page_size": 4, "since_format": "date"},
    "rate_limit": {"algorithm": "none"},
    "latency": {"jitter_sigma": 0},
    "next_syncs": [{"after_s": 3600, "new_conversations": 1, "new_messages": 2}],
}


def test_a_stepped_session_speaks_the_scenario_s_date_dialect() -> None:
    """The property tests' stepped session sends `since` as a day where the dialect wants one, as the runner does."""
    scenario = Scenario.model_validate(DATE_DIALECT)
    spec = RunSpec(scenario, "since-incremental", "threads", Options(workers=2))
    expected = run(spec).rows
    assert all(row["status"] == "ok" for row in expected), [row["error"] for row in expected]
    session = Session(scenario)
    try:
        got = [session.sync("since-incremental", "threads", spec.options).row for _ in scenario.sync_times]
    finally:
        session.close()
    assert [{k: row[k] for k in got[0]} for row in expected] == got


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="module")
def server(tiny: Path) -> Iterator[ServerProcess]:
    with ServerProcess(str(tiny)) as process:
        yield process


def test_a_real_run_starts_from_the_bookmark_minus_the_lookback(tiny: Path, server: ServerProcess) -> None:
    """Over sockets, the first bookmark is the previous sync's start minus the lookback, as in the virtual run."""
    scenario = load_scenario(str(tiny))
    lookback = Options(workers=2, lookback_s=20 * 86400)  # reaches back over most of the tiny world's history
    without = run(RunSpec(scenario, "since-incremental", "threads", Options(workers=2))).rows[0]
    virtual = run(RunSpec(scenario, "since-incremental", "threads", lookback)).rows[0]
    assert virtual["api_calls"] > without["api_calls"], "the lookback should widen what the sync lists"
    real = run_real(
        RunSpec(scenario, "since-incremental", "threads", lookback), server.base_url, world=generate(scenario)
    )
    row = real.rows[0]
    assert row["status"] == "ok", row["error"]
    assert {k: row[k] for k in (*FIGURES, "overfetched")} == {k: virtual[k] for k in (*FIGURES, "overfetched")}
    assert row["options"] == {"clock": "real", "lookback_s": lookback.lookback_s}
