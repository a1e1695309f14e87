"""The process-pool runner: input order, cancellation on a failure or Ctrl-C, the same results in-process,
in processes and on Dask. Tasks are trivial and synchronised through a Manager's Events; every wait is
bounded, so a broken runner fails the test instead of hanging the suite."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from bench.errors import HarnessError
from bench.run.pool import run_all

BOUND_S = 30  # a bound on every wait, never a timing


def _square(n: int) -> int:
    return n * n


def _square_when(event: Any, n: int) -> int:
    event.wait(BOUND_S)
    return n * n


def _refuse() -> None:
    raise ValueError("task 0 failed")


def _fail(failed: Any) -> None:
    failed.set()
    _refuse()


def _started(folder: Path, go: Any, n: int) -> int:
    """Leaves a mark that task n started, then waits for the go."""
    (folder / str(n)).touch()
    go.wait(BOUND_S)
    return n


def _holds_ctrl_c_back() -> bool:
    """Whether every thread of this process blocks SIGINT, so a Ctrl-C to the whole process group
    never reaches it (Linux shows each thread's blocked signals in /proc)."""
    bit = 1 << (signal.SIGINT - 1)
    masks = [int(s.read_text().split("SigBlk:")[1].split()[0], 16) for s in Path("/proc/self/task").glob("*/status")]
    return bool(masks) and all(mask & bit for mask in masks)


def _watches_parent() -> bool:
    """Whether this worker process has a thread watching for its parent's death."""
    return any(t.name == "syncbench-parent-watch" and t.is_alive() for t in threading.enumerate())


def _ends_on_sigterm() -> bool:
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


linux_only = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads signal masks from /proc")


@pytest.fixture(scope="module")
def manager() -> Iterator[Any]:
    with multiprocessing.Manager() as shared:
        yield shared


def test_results_come_in_input_order_whatever_the_completion_order(manager: Any) -> None:
    """Task 0 finishes last (it waits until the last task's result is in), yet its result comes first."""
    last_in = manager.Event()
    tasks = [partial(_square_when, last_in, 0), *(partial(_square, n) for n in range(1, 6))]
    finished: list[int] = []

    def on_result(index: int, result: int) -> None:
        finished.append(index)
        if index == len(tasks) - 1:
            last_in.set()

    assert run_all(tasks, jobs=2, on_result=on_result) == [0, 1, 4, 9, 16, 25]
    assert finished == [1, 2, 3, 4, 5, 0]


def test_one_process_and_two_give_the_same_results() -> None:
    """With one job the tasks run in this process; with two, in workers; the results are the same."""
    tasks = [partial(_square, n) for n in range(6)]
    assert run_all(tasks, jobs=1) == run_all(tasks, jobs=2) == [n * n for n in range(6)]
    assert run_all([os.getpid, os.getpid], jobs=1) == [os.getpid()] * 2
    assert os.getpid() not in run_all([os.getpid, os.getpid], jobs=2)


def test_a_fresh_process_per_task_even_with_one_job() -> None:
    """The scaling study's points each get a process of their own, for a clean peak memory."""
    pids = run_all([os.getpid, os.getpid], jobs=1, fresh_process=True)
    assert len(set(pids)) == 2 and os.getpid() not in pids


@linux_only
def test_workers_leave_ctrl_c_to_the_parent() -> None:
    """A Ctrl-C reaching the whole process group never reaches a pool's workers, so none stops with a
    traceback and the parent alone stops the work (exit 130); once they have started, it takes Ctrl-C again."""
    assert run_all([_holds_ctrl_c_back] * 2, jobs=2) == [True, True]
    assert run_all([_holds_ctrl_c_back] * 2, jobs=1, fresh_process=True) == [True, True]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_workers_watch_their_parent_and_end_on_sigterm() -> None:
    """A worker dies with its parent (tests/specs/test_interrupts.py kills a sweep), and SIGTERM ends it
    outright, although a forked worker inherits the parent's handler that turns SIGTERM into an interrupt."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        assert run_all([_watches_parent, _ends_on_sigterm] * 2, jobs=2) == [True] * 4
        assert run_all([_watches_parent, _ends_on_sigterm], jobs=1, fresh_process=True) == [True] * 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not _watches_parent(), "the parent itself watches nothing"


def test_slow_tasks_start_first_and_results_stay_in_input_order() -> None:
    calls: list[int] = []

    def task(n: int) -> int:
        calls.append(n)
        return n

    tasks = [partial(task, n) for n in range(4)]
    assert run_all(tasks, jobs=1, slow=[False, True, False, True]) == [0, 1, 2, 3]
    assert calls == [1, 3, 0, 2]


def test_a_failure_raises_it_and_leaves_later_tasks_unstarted(tmp_path: Path, manager: Any) -> None:
    """Task 1 runs beside task 0 and waits until task 0 has failed. Its result may reach this process
    before the failure does, and start a task or two more, but no further: the rest never start."""
    failed = manager.Event()
    tasks = [partial(_fail, failed), *(partial(_started, tmp_path, failed, n) for n in range(1, 40))]
    before = set(multiprocessing.active_children())
    with pytest.raises(ValueError, match="task 0 failed"):
        run_all(tasks, jobs=2)
    assert set(multiprocessing.active_children()) == before, "the pool's workers outlived run_all"
    assert 1 <= len(list(tmp_path.iterdir())) < len(tasks) // 2


def test_an_interrupt_cancels_the_rest_and_shuts_the_pool_down(tmp_path: Path, manager: Any) -> None:
    """Ctrl-C while the parent saves a result (here raised by on_result) stops the work: task 1, running
    beside task 0, finishes; no later task starts."""
    interrupted = manager.Event()
    tasks = [partial(_square, 0), *(partial(_started, tmp_path, interrupted, n) for n in range(1, 40))]
    seen: list[int] = []

    def on_result(index: int, result: int) -> None:
        seen.append(index)
        interrupted.set()
        raise KeyboardInterrupt

    before = set(multiprocessing.active_children())
    with pytest.raises(KeyboardInterrupt):
        run_all(tasks, jobs=2, on_result=on_result)
    assert seen == [0]
    assert set(multiprocessing.active_children()) == before, "the pool's workers outlived run_all"
    assert [path.name for path in tmp_path.iterdir()] == ["1"]


@linux_only
def test_dask_gives_the_same_results_and_raises_a_task_failure() -> None:
    """A LocalCluster of two workers: results in input order, workers that leave Ctrl-C to the parent
    and die with it, and a failing task's own error."""
    pytest.importorskip("distributed")
    tasks = [partial(_square, n) for n in range(6)]
    expected = [*run_all(tasks, jobs=1), True, True]
    assert run_all([*tasks, _holds_ctrl_c_back, _watches_parent], jobs=2, executor="dask") == expected
    with pytest.raises(ValueError, match="task 0 failed"):
        run_all([_refuse, *tasks], jobs=2, executor="dask")


def test_dask_missing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask is optional: without it, `--executor dask` says how to install it."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(HarnessError, match=r"pip install 'syncbench\[dask\]'"):
        run_all([partial(_square, 1)], jobs=1, executor="dask")
