"""Sweeps: the same bytes whether runs go one by one, over processes, or to a Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import HarnessError
from bench.results.files import csv_text, json_text, results_document
from bench.run.sweep import SweepPlan, execute, parse_list
from strategies import Options

PLAN = SweepPlan(
    scenario="pms-1000",
    strategies=("client-filter", "since-incremental"),
    fanouts=("sequential", "threads", "async"),
    workers=(1, 5, 10),
    options=Options(),
)


def _files(out: Path, executor: str = "local", jobs: int = 1) -> tuple[str, str]:
    rows, _ = execute(PLAN, out, jobs=jobs, executor=executor)
    return json_text(results_document(rows, PLAN.scenarios())), csv_text(rows)


def test_plan_runs_sequential_once_and_every_worker_count_otherwise() -> None:
    """A sequential run ignores the worker count, so it runs once per strategy."""
    specs = PLAN.specs()
    assert len(specs) == 2 * (1 + 3 + 3)
    assert [s.options.workers for s in specs[:7]] == [1, 1, 5, 10, 1, 5, 10]


def test_processes_give_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    """Two processes finishing in any order assemble results in plan order."""
    assert _files(tmp_path / "one") == _files(tmp_path / "two", jobs=2)


def test_dask_local_cluster_gives_the_same_bytes(tmp_path: Path) -> None:
    """The Dask executor on a LocalCluster gathers the same results as a local sweep."""
    pytest.importorskip("distributed")
    assert _files(tmp_path / "dask", executor="dask", jobs=2) == _files(tmp_path / "local")


def test_saved_runs_are_not_run_again(tmp_path: Path) -> None:
    """A second execute over the same folder finds every run saved and runs none."""
    _files(tmp_path)
    ran: list[str] = []
    execute(PLAN, tmp_path, jobs=1, on_done=lambda spec: ran.append(spec.strategy))
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    execute(PLAN, tmp_path, jobs=1)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    assert before == after and len(ran) == len(PLAN.specs())


@pytest.mark.parametrize(
    ("text", "cast", "problem"),
    [
        pytest.param("", int, "comma list", id="empty"),
        pytest.param("1,,5", int, "comma list", id="empty-item"),
        pytest.param("1,x", int, "integers", id="not-a-number"),
        pytest.param("5,5", int, "twice", id="duplicate"),
    ],
)
def test_bad_lists_are_refused_in_one_line(text: str, cast: type, problem: str) -> None:
    """`--workers 1,,5` and friends name the option and the problem."""
    with pytest.raises(HarnessError, match=problem) as caught:
        parse_list(text, "workers", cast)
    assert "\n" not in str(caught.value) and "--workers" in str(caught.value)


def test_a_changed_scenario_file_is_not_served_from_saved_runs(tmp_path: Path) -> None:
    """Runs saved from an older version of the scenario file are run again, not reused."""
    scenario = tmp_path / "world.toml"
    scenario.write_text('name = "world"\n[dataset]\nconversations = 30\n[activity]\nactive = 3\n')
    plan = SweepPlan(scenario=str(scenario), strategies=("client-filter",), fanouts=("threads",), workers=(2,))
    out = tmp_path / "out"
    first, _ = execute(plan, out, jobs=1)
    scenario.write_text('name = "world"\n[dataset]\nconversations = 30\n[activity]\nactive = 6\n')
    second, _ = execute(plan, out, jobs=1)
    assert (first[0]["conversations_expected"], second[0]["conversations_expected"]) == (3, 6)


def test_a_forced_sweep_runs_everything_afresh(tmp_path: Path) -> None:
    """`sweep --force` over an earlier sweep's folder never serves its saved runs: the code may have
    changed since (only `--resume` reuses them). A planted saved row shows it."""
    import json

    from typer.testing import CliRunner

    from bench.cli.main import app

    args = ["sweep", "--strategies", "since-incremental", "--fanouts", "async", "--workers", "1"]
    args += ["--out", str(tmp_path)]
    runner = CliRunner()
    assert runner.invoke(app, args).exit_code == 0
    saved = next((tmp_path / "runs").glob("*.json"))
    record = json.loads(saved.read_text())
    record["rows"][0]["api_calls"] = -1  # what a run by older code could have said
    saved.write_text(json.dumps(record))
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    rows = json.loads((tmp_path / "results.json").read_text())["results"]
    assert rows[0]["api_calls"] > 0
