"""The one place work is spread over cores or a Dask cluster: sweeps, fault matrices, gate runs,
scaling points and report drawings all call `run_all`.

Whatever the executor, the same promises hold: results come back in input order, so no file depends
on which task finished first; the first failure or a Ctrl-C cancels every task not yet started, and
the pool (or the Dask client and its LocalCluster) is shut down before `run_all` returns or raises.
The workers started here never see the Ctrl-C that reaches the terminal's whole process group, so
the parent alone stops the work (exit 130) and no worker prints a traceback. A parent that dies
without stopping them (SIGKILL, a crash) takes them along: each worker on this machine watches its
parent and exits within `PARENT_POLL_S` of its death, so none holds the caller's stdout open.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from multiprocessing import resource_tracker
from typing import Any, TypeVar

from bench.errors import HarnessError

__all__ = ["run_all"]

R = TypeVar("R")

PARENT_POLL_S = 1.0  # how often a worker checks that its parent is alive
_watching: int | None = None  # the process whose parent the watch thread watches (a fork has no such thread)


def run_all(
    tasks: Sequence[Callable[[], R]],
    *,
    jobs: int,
    executor: str = "local",
    scheduler: str | None = None,
    slow: Sequence[bool] | None = None,
    fresh_process: bool = False,
    on_result: Callable[[int, R], None] | None = None,
) -> list[R]:
    """Call every task (a picklable callable, e.g. a `functools.partial` of a module-level function)
    and return their results in input order.

    `executor="local"` uses up to `jobs` processes on this machine, or this process when `jobs` is 1
    or there is one task; `"dask"` submits the tasks to the Dask cluster at `scheduler` (or to a
    LocalCluster of `jobs` workers), whose workers need syncbench installed. Tasks marked `slow`
    start first, so no worker idles at the end. `fresh_process` runs each task in a process of its
    own (a clean peak memory), even when `jobs` is 1. `on_result(index, result)` is called in this
    process as each task finishes, in completion order (a sweep saves each run there); an exception
    it raises stops the work like a failed task.
    """
    if executor not in ("local", "dask"):
        raise ValueError(f"unknown executor {executor!r} (choose from local, dask)")
    if fresh_process and executor != "local":
        raise ValueError("fresh_process needs the local executor")
    if not tasks:
        return []
    order = sorted(range(len(tasks)), key=lambda i: (not slow[i], i)) if slow is not None else range(len(tasks))
    results: dict[int, R] = {}

    def finish(index: int, result: R) -> None:
        results[index] = result
        if on_result is not None:
            on_result(index, result)

    if executor == "dask":
        _on_dask(tasks, order, jobs, scheduler, finish)
    elif not fresh_process and (jobs <= 1 or len(tasks) <= 1):
        for index in order:
            finish(index, tasks[index]())
    else:
        _in_processes(tasks, order, max(1, min(jobs, len(tasks))), fresh_process, finish)
    return [results[index] for index in range(len(tasks))]


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C back from this thread while workers start. A process or thread inherits the signal
    mask of the thread that starts it, so the workers (and the threads that later replace them) never
    see the Ctrl-C that reaches the whole process group; a Ctrl-C meanwhile arrives here on release."""
    resource_tracker.ensure_running()  # started later, it would unblock Ctrl-C in the thread starting it
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _in_processes(
    tasks: Sequence[Callable[[], R]],
    order: Sequence[int],
    workers: int,
    fresh_process: bool,
    finish: Callable[[int, R], None],
) -> None:
    """Run the tasks in a process pool, finishing each as it completes (several at once in input order).
    A task is handed to the pool only when a worker is free, so none waits in a queue and a failure
    or Ctrl-C waits for the running tasks alone."""
    pool = ProcessPoolExecutor(
        max_workers=workers,
        max_tasks_per_child=1 if fresh_process else None,
        initializer=_local_worker,
        initargs=(os.getpid(),),
    )
    queued = iter(order)
    running: dict[Future[R], int] = {}

    def start_next() -> None:
        index = next(queued, None)
        if index is not None:
            with _ctrl_c_held():  # a submit may start a worker
                running[pool.submit(tasks[index])] = index

    try:
        for _ in range(workers):
            start_next()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=running.__getitem__):
                finish(running.pop(future), future.result())
                start_next()
    finally:  # on a failure or Ctrl-C, the tasks not yet started are dropped
        pool.shutdown(wait=True, cancel_futures=True)


def _on_dask(
    tasks: Sequence[Callable[[], R]],
    order: Sequence[int],
    jobs: int,
    scheduler: str | None,
    finish: Callable[[int, R], None],
) -> None:
    """Run the tasks on a Dask distributed cluster, finishing each as it completes."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # Dask is an optional dependency
        raise HarnessError("--executor dask needs Dask: pip install 'syncbench[dask]'") from None
    cluster = client = None
    try:
        if scheduler is None:
            with _ctrl_c_held():  # the LocalCluster's workers share our terminal's process group
                cluster = LocalCluster(
                    n_workers=jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=10)
            except OSError as error:
                raise HarnessError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        submitted = tasks if cluster is None else [partial(_in_local_cluster, task) for task in tasks]
        futures: dict[Any, int] = {client.submit(submitted[index], pure=False): index for index in order}
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _watch_parent(parent: int) -> None:
    """Exit this worker process once `parent` is no longer its parent (it died and the worker was
    handed to init or a subreaper): a killed parent can stop no worker itself."""
    global _watching
    if _watching == os.getpid():
        return
    _watching = os.getpid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="syncbench-parent-watch", daemon=True).start()


def _local_worker(parent: int) -> None:
    """Set up a process-pool worker: SIGTERM ends it outright (a forked worker inherits the parent's
    handler, which turns SIGTERM into an interrupt), and it dies with its parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _watch_parent(parent)


def _in_local_cluster(task: Callable[[], R]) -> R:
    """Run a task on a worker of the LocalCluster started here; the worker dies with its parent, as a
    process-pool worker does (a worker the cluster restarts watches from its first task on)."""
    _watch_parent(os.getppid())
    return task()
