"""The `syncbench` command line: JSON output, listings, one-line errors with exit code 2, and --out folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app

# click >= 8.2 keeps stderr apart from stdout (result.stdout / result.stderr); that is what these tests rely on.
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, stderr: str, *, mentions: str) -> None:
    """Exit code 2 and exactly one stderr line: 'syncbench: error: ...', no traceback."""
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("syncbench: error:"), stderr
    assert "Traceback" not in stderr
    assert mentions in lines[0], stderr


def test_run_json_prints_results_and_host() -> None:
    """`run --json` prints one JSON document with a result row for the run and host figures."""
    code, stdout, stderr = invoke(
        "run", "--json", "--strategy", "client-filter", "--fanout", "threads", "--workers", "5"
    )
    assert code == 0, stderr
    document = json.loads(stdout)
    assert set(document) == {"results", "host"}
    [row] = document["results"]
    key = (row["scenario"], row["strategy"], row["fanout"], row["workers"])
    assert key == ("pms-1000", "client-filter", "threads", 5)
    assert row["status"] == "ok" and row["coverage"] == 1.0
    assert {"host_seconds", "python", "platform"} <= set(document["host"])
    assert "host_seconds" not in row


def test_run_json_rows_are_deterministic() -> None:
    """Two `run --json` invocations print the same result rows (only host figures may differ)."""
    first = json.loads(invoke("run", "--json", "--seed", "3")[1])
    second = json.loads(invoke("run", "--json", "--seed", "3")[1])
    assert first["results"] == second["results"]
    assert first["results"][0]["seed"] == 3


def test_scenarios_lists_shipped_names() -> None:
    """`scenarios` lists the shipped scenarios by name."""
    code, stdout, _ = invoke("scenarios")
    assert code == 0
    assert "pms-1000" in stdout


def test_strategies_lists_builtin_names() -> None:
    """`strategies` lists every built-in strategy by name."""
    code, stdout, _ = invoke("strategies")
    assert code == 0
    for name in ("full-pagination", "client-filter", "reservation-early-stop", "since-incremental"):
        assert name in stdout


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["run", "--strategy", "no-such-strategy"], "no-such-strategy"),
        (["run", "--scenario", "no-such-scenario"], "no-such-scenario"),
        (["run", "--workers", "0"], "workers"),
        (["run", "--workers", "-1"], "workers"),
        (["run", "--workers", "100000"], "workers"),
        (["run", "--account-workers", "0"], "account-workers"),
        (["run", "--no-such-option"], "--no-such-option"),
        (["run", "--fanout", "carrier-pigeon"], "--fanout"),
        (["run", "--workers", "many"], "--workers"),
        (["frobnicate"], "frobnicate"),
    ],
    ids=[
        "unknown-strategy",
        "unknown-scenario",
        "workers-0",
        "workers-negative",
        "workers-huge",
        "account-workers-0",
        "unknown-option",
        "bad-fanout",
        "workers-not-a-number",
        "unknown-command",
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], mentions: str) -> None:
    """Bad input exits 2 with one 'syncbench: error:' line on stderr naming the problem, and prints nothing else."""
    code, stdout, stderr = invoke(*args)
    assert_one_line_error(code, stderr, mentions=mentions)
    assert stdout == ""


def test_bad_scenario_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A scenario file with a bad field exits 2 with one line naming the file and the field."""
    path = tmp_path / "bad.toml"
    path.write_text("[dataset]\nconversations = -5\n", encoding="utf-8")
    code, _, stderr = invoke("run", "--scenario", str(path))
    assert_one_line_error(code, stderr, mentions="dataset.conversations")
    assert str(path) in stderr


def test_run_out_writes_the_three_files(tmp_path: Path) -> None:
    """`run --out DIR` writes results.json, results.csv and host.json, with host figures only in host.json."""
    out = tmp_path / "out"
    code, _, stderr = invoke("run", "--json", "--out", str(out))
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["host.json", "results.csv", "results.json"]
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"syncbench", "scenarios", "results"}
    assert "pms-1000" in results["scenarios"]
    assert results["results"][0]["strategy"] == "client-filter"
    assert "host_seconds" in json.loads((out / "host.json").read_text())
    assert "host_seconds" not in (out / "results.json").read_text()
    header, *rows = (out / "results.csv").read_text().splitlines()
    assert header.startswith("scenario,") and len(rows) == 1


def test_run_out_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    """A non-empty --out without --force exits 2 with one line and leaves the folder's files untouched."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("precious results\n")
    (out / "notes.txt").write_text("keep me\n")
    code, stdout, stderr = invoke("run", "--out", str(out))
    assert_one_line_error(code, stderr, mentions="--force")
    assert stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "results.json"]
    assert (out / "results.json").read_text() == "precious results\n"
    assert (out / "notes.txt").read_text() == "keep me\n"


def test_run_out_with_force_overwrites(tmp_path: Path) -> None:
    """With --force a non-empty --out is overwritten with fresh results."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("stale\n")
    code, _, stderr = invoke("run", "--json", "--out", str(out), "--force")
    assert code == 0, stderr
    assert json.loads((out / "results.json").read_text())["results"][0]["scenario"] == "pms-1000"


def test_run_out_files_are_identical_across_runs(tmp_path: Path) -> None:
    """results.json and results.csv are byte-identical across two runs of the same settings."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert invoke("run", "--json", "--out", str(a))[0] == 0
    assert invoke("run", "--json", "--out", str(b))[0] == 0
    for name in ("results.json", "results.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
