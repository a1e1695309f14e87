"""Interrupted sweeps lose nothing: a real `syncbench sweep` process is stopped with SIGINT (exit 130) or
SIGKILL after a few runs, keeps the run files it finished, and `sweep --resume` then produces results.json
and results.csv byte-identical to an uninterrupted sweep. Every wait is bounded, so the suite cannot hang."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli.main import app

#: 8 quick runs (about 0.3 s each), so a sweep can be caught between runs.
SWEEP = [
    "--scenario",
    "pms-1000",
    "--strategies",
    "client-filter,since-incremental",
    "--fanouts",
    "threads",
    "--workers",
    "1,2,5,10",
]
RUNS = 8
WAIT_S = 90.0


def _syncbench() -> list[str]:
    script = shutil.which("syncbench")
    return [script] if script else [sys.executable, "-c", "from bench.cli.main import app; app()"]


def _start(out: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A sweep in its own process group (so a signal can reach it as Ctrl-C would), output to files."""
    log = out.parent / f"{out.name}.log"
    with open(log.with_suffix(".out"), "wb") as stdout, open(log.with_suffix(".err"), "wb") as stderr:
        return subprocess.Popen(
            [*_syncbench(), "sweep", *SWEEP, "--out", str(out), *extra],
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )


def _stderr(out: Path) -> str:
    return (out.parent / f"{out.name}.err").read_text(errors="replace")


def _run_files(out: Path) -> list[Path]:
    return sorted((out / "runs").glob("[0-9]*.json")) if (out / "runs").is_dir() else []


def _wait_for_runs(process: subprocess.Popen[bytes], out: Path, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while len(_run_files(out)) < count:
        if process.poll() is not None:
            pytest.fail(f"the sweep ended (exit {process.returncode}) before {count} runs: {_stderr(out)}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"no {count} run files within {WAIT_S} s")
        time.sleep(0.02)


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals, *, group: bool = False) -> int:
    (os.killpg if group else os.kill)(process.pid, sig)
    try:
        return process.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        pytest.fail(f"the sweep did not stop within {WAIT_S} s of {sig.name}")


class Reference:
    """An uninterrupted sweep, started once and run alongside the interrupted ones."""

    def __init__(self, folder: Path) -> None:
        self.out = folder / "uninterrupted"
        self.process = _start(self.out, "--jobs", "1")

    def folder(self) -> Path:
        try:
            code = self.process.wait(timeout=WAIT_S * 2)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            pytest.fail("the uninterrupted sweep did not finish in time")
        assert code == 0, _stderr(self.out)
        return self.out

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    ref = Reference(tmp_path_factory.mktemp("reference"))
    yield ref
    ref.stop()


def _resume_and_compare(out: Path, reference: Reference) -> None:
    """Resume in-process (the finished runs are not run again) and compare the result files byte for byte."""
    kept = {path.name: path.stat().st_mtime_ns for path in _run_files(out)}
    result = CliRunner().invoke(app, ["sweep", "--resume", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mtime_ns for p in _run_files(out) if p.name in kept} == kept, "finished runs reran"
    assert len(_run_files(out)) == RUNS
    assert not list(out.rglob("*.tmp"))
    expected = reference.folder()
    for name in ("results.json", "results.csv"):
        assert (out / name).read_bytes() == (expected / name).read_bytes(), f"{name} differs after resume"


def _assert_kept(out: Path) -> list[Path]:
    kept = _run_files(out)
    assert 2 <= len(kept) < RUNS, f"{len(kept)} run files: the sweep was not caught midway"
    for path in kept:
        assert json.loads(path.read_text())["rows"], f"{path.name} is not a finished run"
    assert not (out / "results.json").exists()
    return kept


def test_sigint_exits_130_keeps_finished_runs_and_resumes(reference: Reference, tmp_path: Path) -> None:
    out = tmp_path / "interrupted"
    process = _start(out, "--jobs", "1")
    _wait_for_runs(process, out, 2)
    assert _stop(process, signal.SIGINT) == 130
    stderr = _stderr(out)
    assert "Traceback" not in stderr and "syncbench: error: interrupted" in stderr
    _assert_kept(out)
    _resume_and_compare(out, reference)


def test_sigkill_keeps_finished_runs_and_resumes(reference: Reference, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    process = _start(out, "--jobs", "1")
    _wait_for_runs(process, out, 2)
    assert _stop(process, signal.SIGKILL) == -signal.SIGKILL
    kept = _assert_kept(out)
    # a kill can land inside a write: the atomic write leaves only a hidden temporary file
    (out / "runs" / f".{len(kept):04d}.json.half.tmp").write_text('{"key": {"scenario": "pms')
    _resume_and_compare(out, reference)


def test_ctrl_c_during_a_process_pool_sweep_exits_130(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the pool's workers leave it to the parent, which exits
    130 with one line and keeps every run saved so far, even with a worker idle."""
    out = tmp_path / "pool"
    process = _start(out, "--jobs", "2")
    _wait_for_runs(process, out, RUNS - 1)
    code = _stop(process, signal.SIGINT, group=True)
    stderr = _stderr(out)
    if code == 0:
        pytest.skip("the sweep finished before the signal arrived")
    assert code == 130 and "Traceback" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        line for line in stderr.splitlines() if line.startswith("syncbench: error: interrupted")
    ]
    assert len(_run_files(out)) >= RUNS - 1
