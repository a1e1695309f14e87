"""Stopping syncbench from outside: Ctrl-C, SIGTERM and SIGKILL. An interrupted run ends its worker
threads before its SQLite store closes; SIGINT and SIGTERM exit 130 with the finished runs kept; a
killed sweep leaves no process of its tree alive; a sweep that finishes with a failed row exits 1;
`--force` removes the files of an earlier sweep first. Every wait is bounded (a deadline, never a
timing), and every process a test starts is killed before it ends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.clock import VirtualClock
from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from bench.store import SqliteStore
from strategies import Options

WAIT_S = 60.0  # a bound on every wait, never a timing
GONE_S = 10.0  # a killed sweep's workers are gone within this (each exits within 5 s of its parent)

#: quick runs of the threads fan-out (a fraction of a second each)
SWEEP = ["--scenario", "pms-1000", "--strategies", "client-filter,since-incremental", "--fanouts", "threads"]

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process tree from /proc")


def _syncbench() -> list[str]:
    script = shutil.which("syncbench")
    return [script] if script else [sys.executable, "-c", "from bench.cli.main import app; app()"]


def _run_files(out: Path) -> list[Path]:
    return sorted((out / "runs").glob("[0-9]*.json")) if (out / "runs").is_dir() else []


def _session(sid: int) -> list[int]:
    """The live processes of session `sid` (a sweep started in a new session, and all it started)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields after the name: state, ppid, pgrp, session
            pids.append(int(stat.parent.name))
    return pids


class Sweep:
    """A `syncbench sweep` in a new session, its stdout and stderr on pipes as a CI step reads them."""

    def __init__(self, out: Path, *args: str) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [*_syncbench(), "sweep", *SWEEP, "--out", str(out), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def wait_until(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not ready():
            if self.process.poll() is not None:
                pytest.fail(f"the sweep ended (exit {self.process.returncode}) before {what}: {self.finish()[1]}")
            if time.monotonic() > deadline:
                pytest.fail(f"not {what} within {WAIT_S} s")
            time.sleep(0.02)  # polling, with a deadline

    def finish(self) -> tuple[int, str]:
        """Wait for the exit and for the end of both pipes (no process of the tree holds them open)."""
        try:
            _, stderr = self.process.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep's output pipes were still open {WAIT_S} s on")
        return self.process.returncode, stderr.decode(errors="replace")

    def kill_all(self) -> None:
        for pid in _session(self.process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=WAIT_S)


@pytest.fixture
def sweeps() -> Iterator[list[Sweep]]:
    started: list[Sweep] = []
    yield started
    for sweep in started:
        sweep.kill_all()


def test_an_interrupted_run_ends_its_worker_threads_before_its_store_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C reaches the main thread while a worker thread holds the turn, inside the store: closing the
    SQLite connection under that worker crashed the process (a segfault). The worker here raises the
    interrupt itself and waits (bounded) until the run starts to stop; the store closes with no worker alive."""
    main = threading.main_thread()
    stopping = threading.Event()
    fired: list[bool] = []
    alive_at_close: list[list[str]] = []
    write, close = SqliteStore.write, SqliteStore.close
    stop = getattr(VirtualClock, "stop", None)

    def interrupting_write(self: SqliteStore, *args: Any) -> float:
        if threading.current_thread() is not main and not fired:
            fired.append(True)
            signal.pthread_kill(main.ident or 0, signal.SIGINT)
            stopping.wait(WAIT_S)
        return write(self, *args)

    def recording_close(self: SqliteStore) -> None:
        stopping.set()
        alive_at_close.append([t.name for t in threading.enumerate() if t not in before])
        close(self)

    def announced_stop(self: VirtualClock) -> None:
        stopping.set()
        if stop is not None:
            stop(self)

    monkeypatch.setattr(SqliteStore, "write", interrupting_write)
    monkeypatch.setattr(SqliteStore, "close", recording_close)
    monkeypatch.setattr(VirtualClock, "stop", announced_stop, raising=False)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = set(threading.enumerate())
    try:
        with pytest.raises(KeyboardInterrupt):
            run(RunSpec(load_scenario("pms-1000"), "full-pagination", "threads", Options(workers=8)))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert fired, "no worker thread wrote to the store"
    assert alive_at_close == [[]], f"worker threads alive when the store closed: {alive_at_close}"
    assert set(threading.enumerate()) <= before


def test_ctrl_c_during_a_threads_run_always_exits_130(tmp_path: Path, sweeps: list[Sweep]) -> None:
    """`sweep --jobs 1` runs in this process, each run's workers as threads; a Ctrl-C (to the whole process
    group, as a terminal sends it) during a run exits 130 with one line every time, never a crash."""
    for attempt in range(6):
        out = tmp_path / f"attempt-{attempt}"
        sweep = Sweep(out, "--workers", "10,20", "--jobs", "1")
        sweeps.append(sweep)
        sweep.wait_until(lambda: _run_files(out), "a run finished")  # noqa: B023  # called in this iteration
        os.killpg(sweep.process.pid, signal.SIGINT)
        code, stderr = sweep.finish()
        if code == 0:
            continue  # the sweep finished before the signal arrived
        assert code == 130, f"attempt {attempt}: exit {code}: {stderr}"
        assert "Traceback" not in stderr and "syncbench: error: interrupted" in stderr, stderr


def _pool_sweep(out: Path, sweeps: list[Sweep], *, executor: str = "local") -> Sweep:
    """A sweep on two worker processes caught midway: runs saved, its workers alive."""
    sweep = Sweep(out, "--workers", "1,2,5,10,20", "--jobs", "2", "--executor", executor)
    sweeps.append(sweep)
    sweep.wait_until(lambda: _run_files(out) and len(_session(sweep.process.pid)) >= 3, "a run finished in a pool")
    return sweep


def _wait_gone(sid: int) -> None:
    deadline = time.monotonic() + GONE_S
    while (alive := _session(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling, with a deadline
    assert not alive, f"processes of the sweep alive {GONE_S} s after it ended: {alive}"


@linux_only
@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_killed_sweep_leaves_no_process_behind(tmp_path: Path, sweeps: list[Sweep], executor: str) -> None:
    """SIGKILL gives the sweep no chance to stop its pool (or its Dask LocalCluster): the workers notice
    their parent's death and exit, so its output pipes reach their end and nothing of its tree stays alive."""
    if executor == "dask":
        pytest.importorskip("distributed")
    sweep = _pool_sweep(tmp_path / "killed", sweeps, executor=executor)
    os.kill(sweep.process.pid, signal.SIGKILL)
    code, _ = sweep.finish()
    assert code == -signal.SIGKILL
    _wait_gone(sweep.process.pid)


@linux_only
@pytest.mark.parametrize("group", [False, True], ids=["to-the-sweep", "to-its-process-group"])
def test_sigterm_stops_a_sweep_as_ctrl_c_does(tmp_path: Path, sweeps: list[Sweep], group: bool) -> None:
    """SIGTERM (from a CI runner, `kill`, a container stop) exits 130 with one line, keeps the finished
    runs, and leaves no process behind."""
    out = tmp_path / "terminated"
    sweep = _pool_sweep(out, sweeps)
    (os.killpg if group else os.kill)(sweep.process.pid, signal.SIGTERM)
    code, stderr = sweep.finish()
    if code == 0:
        pytest.skip("the sweep finished before the signal arrived")
    assert code == 130 and "Traceback" not in stderr and "syncbench: error: interrupted" in stderr, stderr
    assert _run_files(out) and all(json.loads(p.read_text())["rows"] for p in _run_files(out))
    _wait_gone(sweep.process.pid)


def test_a_sweep_with_a_failed_row_exits_1(tmp_path: Path) -> None:
    """No retries under the rate limit: the sync fails; the sweep still writes its rows and reports, then exits 1."""
    out = tmp_path / "failing"
    args = ["sweep", "--scenario", "pms-1000", "--strategies", "full-pagination", "--fanouts", "threads"]
    result = CliRunner().invoke(app, [*args, "--workers", "20", "--max-retries", "0", "--out", str(out), "--jobs", "1"])
    assert result.exit_code == 1, result.output
    rows = json.loads((out / "results.json").read_text())["results"]
    assert rows and all(r["status"] == "failed" for r in rows)
    assert (out / "report.md").is_file()


def test_force_then_ctrl_c_leaves_no_old_results_to_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sweep --force` into an old sweep's folder, then Ctrl-C: the old results are gone (the new manifest
    no longer sits beside them, and `report` cannot rebuild them); the user's own files stay."""
    out = tmp_path / "reused"
    base = ["sweep", *SWEEP, "--workers", "1", "--jobs", "1", "--out", str(out)]
    assert CliRunner().invoke(app, base).exit_code == 0
    (out / "notes.md").write_text("mine")
    (out / "diagram.png").write_bytes(b"mine")

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("bench.cli.main.execute", interrupted)
    result = CliRunner().invoke(app, [*base, "--force"])
    assert result.exit_code == 130, result.output
    assert sorted(p.name for p in out.iterdir()) == ["diagram.png", "notes.md"]
    assert CliRunner().invoke(app, ["report", str(out)]).exit_code == 2
