"""The run settings `run`, `sweep`, `fidelity`, `recommend`, `record`, `faults` and `scale` take reach
the runs they make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bench.cli.real
from bench.cli import app
from bench.serve.server import ServerProcess
from bench.studies import fidelity, recommend
from tests.serve.test_server import tiny_scenario

runner = CliRunner()
#: every run setting but the lookback (a recording has no bookmark to overlap), away from its default
SETTINGS = [
    "--page-size", "5", "--write-mode", "chunked", "--chunk-size", "3", "--throttle", "500",
    "--adaptive", "--max-retries", "2", "--max-pages", "5000",
]  # fmt: skip
EXPECTED = {"page_size": 5, "write_mode": "chunked", "chunk_size": 3, "throttle": 500.0, "adaptive": True}
EXPECTED |= {"max_retries": 2, "max_pages": 5000}
LOOKBACK = (["--lookback", "1"], {"lookback_s": 1.0})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_scenario(tmp_path_factory.mktemp("scenario"))


def _has_settings(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert row["status"] == "ok", row["error"]
    assert expected.items() <= row["options"].items(), row["options"]


def test_run_passes_its_settings(tiny: Path) -> None:
    result = runner.invoke(app, ["run", "--scenario", str(tiny), "--json", *SETTINGS, *LOOKBACK[0]])
    assert result.exit_code == 0, result.stderr
    for row in json.loads(result.stdout)["results"]:
        _has_settings(row, EXPECTED | LOOKBACK[1])


def test_fidelity_runs_both_sides_with_its_settings(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The virtual run and the real-socket run of each point both use the command line's settings."""
    seen: list[fidelity.Point] = []

    def spy(*args: Any, **kwargs: Any) -> list[fidelity.Point]:
        seen.extend(fidelity.run_fidelity(*args, **kwargs))
        return seen

    monkeypatch.setattr(bench.cli.real, "run_fidelity", spy)
    args = ["fidelity", "--scenario", str(tiny), "--strategy", "client-filter", "--fanout", "threads"]
    result = runner.invoke(app, [*args, "--workers", "2", "--time-scale", "0.5", "--json", *SETTINGS, *LOOKBACK[0]])
    assert result.exit_code in (0, 1), result.stderr  # 1: wall time on a busy machine missed its target
    assert [p.workers for p in seen] == [2]
    for point in seen:
        _has_settings(point.virtual, EXPECTED | LOOKBACK[1])
        _has_settings(point.real, EXPECTED | LOOKBACK[1])


def test_recommend_measures_with_its_settings(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    measured: list[dict[str, Any]] = []
    measure = recommend.measure_points

    def spy(*args: Any, **kwargs: Any) -> Any:
        rows, world = measure(*args, **kwargs)
        measured.extend(rows)
        return rows, world

    monkeypatch.setattr(recommend, "measure_points", spy)
    args = ["recommend", "--scenario", str(tiny), "--strategy", "client-filter", "--workers", "1,2", "--jobs", "1"]
    result = runner.invoke(app, [*args, "--json", *SETTINGS, *LOOKBACK[0]])
    assert result.exit_code in (0, 1), result.stderr  # 1: no count qualifies, which is not what this checks
    assert sorted({row["workers"] for row in measured}) == [1, 2]
    for row in measured:
        _has_settings(row, EXPECTED | LOOKBACK[1])
    assert json.loads(result.stdout)["settings"]["options"]["adaptive"] is True


def test_record_records_with_its_settings(tiny: Path, tmp_path: Path) -> None:
    """The recorded sync ran with the command line's settings: the cassette's metadata says which."""
    cassette = tmp_path / "session.json"
    with ServerProcess(str(tiny)) as server:
        args = ["record", "--base-url", server.base_url, "--out", str(cassette), "--strategy", "client-filter"]
        result = runner.invoke(app, [*args, "--fanout", "threads", "--workers", "2", *SETTINGS])
    assert result.exit_code == 0, result.stderr
    meta = json.loads(cassette.read_text())["metadata"]["syncbench"]
    assert meta["recorded"]["status"] == "ok"
    assert EXPECTED.items() <= meta["options"].items(), meta["options"]


def test_sweep_runs_with_its_settings(tiny: Path, tmp_path: Path) -> None:
    args = ["sweep", "--scenario", str(tiny), "--strategies", "client-filter", "--fanouts", "threads"]
    result = runner.invoke(app, [*args, "--workers", "2", "--jobs", "1", "--out", str(tmp_path), *SETTINGS])
    assert result.exit_code == 0, result.stderr
    for row in json.loads((tmp_path / "results.json").read_text())["results"]:
        _has_settings(row, EXPECTED)


@pytest.mark.parametrize(
    ("command", "module", "call"), [("faults", "faults", "run_matrix"), ("scale", "scale", "study")]
)
def test_faults_and_scale_pass_the_page_bound(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, module: str, call: str
) -> None:
    """`--max-pages` reaches the fault matrix and the scaling study (a spy stops them before they run)."""
    import importlib

    seen: list[Any] = []

    class Stop(BaseException):  # not an Exception: the command's error policy would report it
        pass

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        raise Stop

    monkeypatch.setattr(importlib.import_module(f"bench.cli.{module}"), call, spy)
    args = [command, "--scenario", str(tiny), "--strategies", "client-filter", "--max-pages", "77", "--jobs", "1"]
    if command == "scale":
        args += ["--sizes", "10", "--out", str(tmp_path / "out")]
    with pytest.raises(Stop):
        runner.invoke(app, args)
    args_, kwargs = seen[0]
    assert kwargs.get("max_pages", args_[-1]) == 77
