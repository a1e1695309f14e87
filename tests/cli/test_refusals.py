"""Inputs the commands once accepted silently, or refused too late or as an "internal error": each is
refused up front in one line naming it (exit 2), before any run or request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.world.estimate import DEFAULT_MAX_MIB, LIMIT_ENV

runner = CliRunner()
TINY = 'name = "world"\nseed = 3\n[dataset]\nconversations = 12\n[activity]\nactive = {active}\n'
#: a sweep over a tiny scenario file: two seconds, one process
SWEEP = ["sweep", "--strategies", "client-filter", "--fanouts", "threads", "--workers", "2", "--jobs", "1"]


def _refused(args: list[str], *named: str) -> str:
    result = runner.invoke(app, args)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(lines) == 1 and lines[0].startswith("syncbench: error:"), result.stderr
    assert "internal error" not in lines[0] and "No such option" not in lines[0], lines[0]
    assert "Traceback" not in result.output
    for name in named:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e300", "-inf"])
def test_run_refuses_a_lookback_out_of_range(value: str) -> None:
    _refused(["run", "--strategy", "since-incremental", "--lookback", value], "--lookback")


@pytest.mark.parametrize("command", ["run", "sweep", "fidelity", "recommend", "faults", "scale", "serve"])
def test_an_empty_scenario_is_refused(command: str, tmp_path: Path) -> None:
    """`--scenario ''` once ran pms-1000 (`run`) or failed on the folder '.' (the others)."""
    extra = {"sweep": ["--out", str(tmp_path)], "recommend": ["--strategy", "client-filter"]}.get(command, [])
    _refused([command, "--scenario", "", *extra], "--scenario")


def test_sweep_refuses_empty_seeds(tmp_path: Path) -> None:
    """`--seeds ''` once ran the scenario's own seed as if no --seeds had been given."""
    _refused([*SWEEP, "--out", str(tmp_path / "out"), "--seeds", ""], "--seeds")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["200%", "100.5%", "inf%"])
def test_recommend_refuses_a_throttled_share_above_all_calls(value: str) -> None:
    args = ["recommend", "--scenario", "pms-1000", "--strategy", "client-filter", "--workers", "1,2"]
    _refused([*args, "--max-throttled", value], "--max-throttled")


def test_record_refuses_an_out_it_cannot_write_before_recording() -> None:
    """/proc/x/y.json passed the permission check (as root) and the session was lost at the end."""
    args = ["record", "--base-url", "http://127.0.0.1:9", "--out", "/proc/x/y.json", "--strategy", "client-filter"]
    _refused(args, "--out", "/proc")


def test_run_refuses_a_trace_it_cannot_write_before_running(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    for trace in ("/proc/x/trace.csv", str(tmp_path / "a-file" / "trace.csv"), str(tmp_path)):
        _refused(["run", "--strategy", "since-incremental", "--trace", trace], "--trace")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_max_pages_must_be_positive() -> None:
    _refused(["run", "--strategy", "since-incremental", "--max-pages", "0"], "--max-pages")


# -- sweep --resume ----------------------------------------------------------------------------------


@pytest.fixture
def swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A finished sweep of `here/world.toml`, run from `here` with the relative path."""
    here = tmp_path / "here"
    here.mkdir()
    (here / "world.toml").write_text(TINY.format(active=3))
    monkeypatch.chdir(here)
    result = runner.invoke(app, [*SWEEP, "--scenario", "world.toml", "--out", "out"])
    assert result.exit_code == 0, result.output
    return here / "out"


@pytest.mark.parametrize(
    "extra",
    [["--strategies", "since-incremental"], ["--seeds", "1,2"], ["--lookback", "5"], ["--out", "x"], ["--force"]],
)
def test_resume_refuses_the_options_its_manifest_fixes(swept: Path, extra: list[str]) -> None:
    """Every other flag was ignored without a word; only --jobs, --executor and --scheduler go with it."""
    _refused(["sweep", "--resume", str(swept), *extra], "--resume", extra[0])


def test_resume_takes_how_to_run(swept: Path) -> None:
    before = (swept / "results.json").read_bytes()
    result = runner.invoke(app, ["sweep", "--resume", str(swept), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert (swept / "results.json").read_bytes() == before


def test_resume_from_another_directory_runs_the_same_scenario_file(
    swept: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative --scenario was read again relative to wherever --resume ran: another file, silently."""
    before = (swept / "results.json").read_bytes()
    manifest = json.loads((swept / "manifest.json").read_text())
    assert manifest["scenario"] == str(swept.parent / "world.toml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "world.toml").write_text(TINY.format(active=6))
    monkeypatch.chdir(elsewhere)
    for saved in (swept / "runs").iterdir():
        saved.unlink()
    result = runner.invoke(app, ["sweep", "--resume", str(swept)])
    assert result.exit_code == 0, result.output
    assert (swept / "results.json").read_bytes() == before


def test_resume_refuses_a_scenario_file_changed_since(swept: Path) -> None:
    (swept.parent / "world.toml").write_text(TINY.format(active=6))
    _refused(["sweep", "--resume", str(swept)], "world.toml", "has changed", "--force")


# -- python -m bench.serve.server ---------------------------------------------------------------------


@pytest.mark.parametrize("port", ["70000", "-1", "x"])
def test_the_bare_server_refuses_a_port_out_of_range(port: str) -> None:
    """`--port 70000` once listened on 4464 (70000 mod 65536)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.serve.server", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "--port" in lines[0] and done.stdout == ""


# -- --max-world-mib -----------------------------------------------------------------------------------


@pytest.fixture
def limit_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit a command hands on lives in the environment: restore it after each test."""
    monkeypatch.setenv(LIMIT_ENV, str(DEFAULT_MAX_MIB))


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("run", ["--strategy", "client-filter"]),
        ("sweep", ["--strategies", "client-filter", "--out", "{out}"]),
        ("recommend", ["--strategy", "client-filter", "--out", "{out}"]),
        ("fidelity", ["--strategy", "client-filter", "--out", "{out}"]),
        ("faults", ["--strategies", "client-filter", "--out", "{out}"]),
        ("scale", ["--strategies", "client-filter", "--sizes", "10", "--out", "{out}"]),
        ("serve", ["--port", "0"]),
    ],
)
def test_a_world_above_the_limit_is_refused_before_anything_runs(
    command: str, extra: list[str], tmp_path: Path, limit_restored: None
) -> None:
    args = [a.format(out=tmp_path / "out") for a in extra]
    line = _refused([command, "--scenario", "pms-1000", "--max-world-mib", "1", *args], "--max-world-mib")
    assert "MiB" in line and "dataset." in line, line
    assert not (tmp_path / "out").exists()


def test_scale_checks_every_size_before_the_first_run(tmp_path: Path, limit_restored: None) -> None:
    """`scale --sizes 1000000000000` once died of MemoryError after the smaller sizes had run."""
    args = ["scale", "--scenario", "pms-1000", "--strategies", "client-filter", "--out", str(tmp_path / "out")]
    _refused([*args, "--sizes", "10,1000000000000"], "dataset.conversations", "--max-world-mib")
    assert not (tmp_path / "out").exists()


def test_the_default_limit_admits_the_large_scenario(limit_restored: None) -> None:
    from bench.cli.options import world_limit
    from bench.scenario.model import load_scenario

    world_limit(DEFAULT_MAX_MIB, load_scenario("large"))


def test_run_cassette_refuses_a_world_limit() -> None:
    cassette = Path(__file__).resolve().parents[2] / "fixtures" / "cassettes" / "tiny-cursor.json"
    _refused(["run", "--cassette", str(cassette), "--max-world-mib", "100"], "--max-world-mib", "--cassette")
