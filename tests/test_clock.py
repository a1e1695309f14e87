"""The virtual clock: simulated time, a deterministic thread scheduler, and an asyncio loop on virtual time."""

from __future__ import annotations

import asyncio
import heapq
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import clock as clock_module
from bench.clock import ClockError, RealClock, VirtualClock, VirtualFuture

#: Host seconds a guarded scenario may take before we call it a hang (it needs microseconds).
HANG_GUARD_S = 3.0

#: A job mix: (name, virtual seconds of work), submitted in this order.
JOBS: list[tuple[str, float]] = [("a", 3), ("b", 1), ("c", 4), ("d", 1), ("e", 5), ("f", 9), ("g", 2), ("h", 6)]


def guarded(fn: Callable[[], Any], timeout: float = HANG_GUARD_S) -> Any:
    """Run `fn` in its own thread; fail (instead of hanging the suite) if it does not finish in time."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # handed back to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="guarded", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout} host seconds: the scheduler hung"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def run_mix(workers: int, jobs: list[tuple[str, float]] = JOBS) -> tuple[float, list[tuple[float, str]]]:
    """Run the jobs on a virtual pool; returns the makespan and the (time, event) log."""
    clock = VirtualClock()
    log: list[tuple[float, str]] = []

    def job(name: str, seconds: float) -> str:
        log.append((clock.now(), f"start {name}"))
        clock.sleep(seconds)
        log.append((clock.now(), f"end {name}"))
        return name

    with clock.executor(workers) as pool:
        futures = [pool.submit(job, name, seconds) for name, seconds in jobs]
        assert [f.result() for f in futures] == [name for name, _ in jobs]
    return clock.now(), log


def list_schedule_makespan(durations: list[float], workers: int) -> float:
    """Greedy list scheduling: each job, in order, goes to the worker that frees up first."""
    free = [0.0] * workers
    heapq.heapify(free)
    for seconds in durations:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free)


# -- time ----------------------------------------------------------------------


def test_sleep_advances_virtual_time_without_host_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A virtual hour-long sleep moves now() by an hour and never calls time.sleep."""

    def no_real_sleep(seconds: float) -> None:
        raise AssertionError(f"time.sleep({seconds}) called by the virtual clock")

    monkeypatch.setattr(clock_module.time, "sleep", no_real_sleep)
    clock = VirtualClock(start=5.0)
    began = time.perf_counter()
    clock.sleep(3600)
    clock.sleep(0.25)
    assert clock.now() == 3605.25
    assert time.perf_counter() - began < 1.0


def test_advance_to_backwards_raises_clock_error() -> None:
    """advance_to() an earlier instant raises ClockError and leaves the time unchanged."""
    clock = VirtualClock()
    clock.advance_to(10.0)
    with pytest.raises(ClockError, match="backwards"):
        clock.advance_to(9.999)
    assert clock.now() == 10.0


def test_negative_sleep_raises_clock_error() -> None:
    """Sleeping a negative time raises ClockError instead of moving time backwards."""
    clock = VirtualClock(start=2.0)
    with pytest.raises(ClockError):
        clock.sleep(-0.5)
    assert clock.now() == 2.0


def test_time_never_goes_backwards_across_pool_workers() -> None:
    """Every event a pool logs reads a time no earlier than the event before it."""
    _, log = run_mix(3)
    times = [t for t, _ in log]
    assert times == sorted(times)
    assert times[-1] > 0


# -- thread pool ---------------------------------------------------------------


def test_pool_runs_are_identical() -> None:
    """The same job mix on the same pool size gives the same (time, job) log twice."""
    first = run_mix(3)
    second = run_mix(3)
    assert first == second
    assert len(first[1]) == 2 * len(JOBS)


def test_one_worker_makespan_is_the_sum_of_the_jobs() -> None:
    """On one worker the jobs run back to back: the makespan is the sum of their durations."""
    makespan, log = run_mix(1)
    assert makespan == sum(seconds for _, seconds in JOBS) == 31
    assert [event for _, event in log[:4]] == ["start a", "end a", "start b", "end b"]


def test_enough_workers_makespan_is_the_longest_job() -> None:
    """With a worker per job everything starts at 0 and the makespan is the longest job."""
    makespan, log = run_mix(len(JOBS))
    assert makespan == max(seconds for _, seconds in JOBS) == 9
    assert all(t == 0 for t, event in log if event.startswith("start"))


@pytest.mark.parametrize(("workers", "expected"), [(2, 17), (3, 12), (50, 9)])
def test_n_worker_makespan_matches_list_scheduling(workers: int, expected: float) -> None:
    """At N workers the makespan is what greedy list scheduling in submission order predicts."""
    durations = [seconds for _, seconds in JOBS]
    assert list_schedule_makespan(durations, workers) == expected
    assert run_mix(workers)[0] == expected


def test_pool_starts_at_most_max_workers_threads() -> None:
    """No more than max_workers jobs are ever in progress at once."""
    _, log = run_mix(3)
    running = peak = 0
    for _, event in log:
        running += 1 if event.startswith("start") else -1
        peak = max(peak, running)
    assert peak == 3


def test_equal_wake_times_wake_in_sleep_order() -> None:
    """Sleepers due at the same instant wake in the order they went to sleep (time, sequence)."""
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    def job(name: str, naps: list[float]) -> None:
        for nap in naps:
            clock.sleep(nap)
        woke.append((name, clock.now()))

    # all are due at t=5; they fall asleep for the last time in the order B (t=0), A (t=1), C (t=2)
    plan = {"A": [1, 4], "B": [5], "C": [2, 3]}
    with clock.executor(3) as pool:
        futures = [pool.submit(job, name, naps) for name, naps in plan.items()]
        for future in futures:
            future.result()
    assert woke == [("B", 5.0), ("A", 5.0), ("C", 5.0)]


def test_virtual_lock_excludes_across_a_clock_sleep() -> None:
    """A VirtualLock held across clock.sleep keeps other workers out until it is released."""
    clock = VirtualClock()
    lock = clock.lock()
    spans: dict[str, tuple[float, float]] = {}

    def job(name: str) -> None:
        with lock:
            entered = clock.now()
            clock.sleep(2)
            spans[name] = (entered, clock.now())

    with clock.executor(3) as pool:
        for future in [pool.submit(job, name) for name in "xyz"]:
            future.result()
    assert sorted(spans.values()) == [(0, 2), (2, 4), (4, 6)]
    assert clock.now() == 6


def test_virtual_lock_keeps_read_modify_write_atomic() -> None:
    """A counter incremented as read, sleep, write under the lock loses no update."""
    clock = VirtualClock()
    lock = clock.lock()
    counter = {"value": 0}

    def bump() -> None:
        with lock:
            seen = counter["value"]
            clock.sleep(0.1)
            counter["value"] = seen + 1

    with clock.executor(4) as pool:
        for future in [pool.submit(bump) for _ in range(8)]:
            future.result()
    assert counter["value"] == 8


def test_future_result_reraises_the_job_exception() -> None:
    """future.result() raises the exception the job raised, after its clock sleeps."""
    clock = VirtualClock()

    def fail() -> None:
        clock.sleep(1.5)
        raise ValueError("boom at 1.5")

    with clock.executor(2) as pool:
        ok = pool.submit(lambda: 42)
        bad = pool.submit(fail)
        with pytest.raises(ValueError, match="boom at 1.5"):
            bad.result()
        assert ok.result() == 42
    assert clock.now() == 1.5


def test_executor_rejects_zero_workers() -> None:
    """A pool of zero workers is refused."""
    with pytest.raises(ValueError):
        VirtualClock().executor(0)


# -- deadlock ------------------------------------------------------------------


def test_waiting_on_a_future_nobody_finishes_raises_clock_error() -> None:
    """The only thread waiting on a never-finished future gets ClockError, not a hang."""

    def scenario() -> None:
        VirtualFuture(VirtualClock()).result()

    with pytest.raises(ClockError, match="deadlock"):
        guarded(scenario)


def test_worker_waiting_forever_surfaces_clock_error_through_its_future() -> None:
    """A job waiting on a future nobody finishes gets ClockError, delivered by its own future."""

    def scenario() -> str:
        clock = VirtualClock()
        with clock.executor(1) as pool:
            future = pool.submit(lambda: VirtualFuture(clock).result())
            try:
                future.result()
            except ClockError as error:
                return str(error)
        return "no error"

    assert "deadlock" in guarded(scenario)


def test_lock_order_deadlock_raises_clock_error_and_pool_shuts_down() -> None:
    """Two workers taking two locks in opposite order get ClockError and the pool still shuts down."""

    def scenario() -> list[str]:
        clock = VirtualClock()
        first, second = clock.lock(), clock.lock()

        def take(a: Any, b: Any) -> str:
            with a:
                clock.sleep(1)
                with b:
                    return "ok"

        outcomes = []
        with clock.executor(2) as pool:
            futures = [pool.submit(take, first, second), pool.submit(take, second, first)]
            for future in futures:
                try:
                    outcomes.append(future.result())
                except ClockError:
                    outcomes.append("ClockError")
        return outcomes

    assert "ClockError" in guarded(scenario)


def test_event_loop_with_nothing_to_wait_for_raises_clock_error() -> None:
    """An idle virtual event loop with no timer pending raises ClockError instead of hanging."""

    def scenario() -> None:
        loop = VirtualClock().new_event_loop()
        try:
            loop.run_until_complete(loop.create_future())
        finally:
            loop.close()

    with pytest.raises(ClockError, match="deadlock"):
        guarded(scenario)


# -- asyncio -------------------------------------------------------------------


def test_asyncio_sleep_runs_on_virtual_time() -> None:
    """asyncio.sleep(100) returns at once in host time while loop.time() and now() advance by 100."""
    clock = VirtualClock()
    loop = clock.new_event_loop()
    try:
        before = loop.time()
        began = time.perf_counter()
        loop.run_until_complete(asyncio.sleep(100))
        host = time.perf_counter() - began
        assert loop.time() - before == 100
        assert clock.now() == 100
        assert host < 1.0
    finally:
        loop.close()


def _gather_log() -> list[tuple[float, str]]:
    clock = VirtualClock()
    loop = clock.new_event_loop()
    log: list[tuple[float, str]] = []

    async def nap(name: str, seconds: float) -> str:
        await asyncio.sleep(seconds)
        log.append((asyncio.get_running_loop().time(), name))
        await asyncio.sleep(seconds / 2)
        log.append((asyncio.get_running_loop().time(), name + "'"))
        return name

    async def main() -> list[str]:
        return await asyncio.gather(*(nap(name, seconds) for name, seconds in JOBS))

    try:
        assert loop.run_until_complete(main()) == [name for name, _ in JOBS]
    finally:
        loop.close()
    return log


def test_asyncio_gather_of_sleeps_is_deterministic() -> None:
    """A gather of sleeps gives the same (time, task) log on every run, at the virtual times asked."""
    first, second = _gather_log(), _gather_log()
    assert first == second
    wake = {name: t for t, name in first}
    for name, seconds in JOBS:
        assert wake[name] == seconds
        assert wake[name + "'"] == seconds * 1.5
    assert [t for t, _ in first] == sorted(t for t, _ in first)


def test_asyncio_timers_due_at_the_same_instant_fire_in_the_order_they_were_set() -> None:
    """Equal wake times resolve first come first served, as the thread scheduler does, not by the heap's layout."""
    clock = VirtualClock()
    loop = clock.new_event_loop()
    order: list[int] = []

    async def sleeper(index: int) -> None:
        await asyncio.sleep(1.0 + (index % 3))  # three instants, many sleepers at each
        order.append(index)

    async def main() -> None:
        await asyncio.gather(*(sleeper(i) for i in range(30)))

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert order == sorted(range(30), key=lambda i: (i % 3, i))


def _sleep_log(naps: list[list[float]], skip: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, int, int]]:
    """(time, task, nap) of every wake-up (nap negated when cancelled), with the loop's skipping of lone
    sleeps allowed or not."""
    with monkeypatch.context() as patch:
        if not skip:
            patch.setattr(clock_module._VirtualEventLoop, "_next_to_wake", lambda self, when: False)
        clock = VirtualClock()
        loop = clock.new_event_loop()
        log: list[tuple[float, int, int]] = []
        lock = asyncio.Lock()

        async def task(index: int, seconds: list[float]) -> None:
            me = asyncio.current_task()
            assert me is not None
            for step, nap in enumerate(seconds):
                try:
                    if step % 3 == 2:  # cancelled before it sleeps: the cancellation lands at the next suspension
                        me.cancel()
                    if step % 2:
                        async with lock:  # a waiter woken by a release is ready: no skipping past it
                            await asyncio.sleep(nap)
                    else:
                        await asyncio.sleep(nap)
                    log.append((loop.time(), index, step))
                except asyncio.CancelledError:
                    me.uncancel()
                    log.append((loop.time(), index, -step))

        async def main() -> None:
            await asyncio.gather(*(task(i, seconds) for i, seconds in enumerate(naps)))

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
    return log


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    naps=st.lists(
        st.lists(st.sampled_from([0.0, 0.001, 0.003, 0.05, 0.1, 0.25, 1.0, 7.5]), min_size=1, max_size=12),
        min_size=1,
        max_size=8,
    )
)
def test_a_lone_sleep_ending_at_once_changes_nothing_that_happens(
    naps: list[list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop ends a sleep without suspending when its task is next to run anyway; every wake-up
    happens at the same instant and in the same order as when every sleep suspends. The naps are
    few distinct values, so equal instants (and their tie order) come up often."""
    assert _sleep_log(naps, True, monkeypatch) == _sleep_log(naps, False, monkeypatch)


def test_lone_sleeps_end_without_a_loop_turn() -> None:
    """A task sleeping alone is never suspended: the loop turns once for the whole run."""
    clock = VirtualClock()
    loop = clock.new_event_loop()
    turns = 0
    run_once = loop._run_once  # type: ignore[attr-defined]

    def counted() -> None:
        nonlocal turns
        turns += 1
        run_once()

    loop._run_once = counted  # type: ignore[attr-defined]

    async def naps() -> None:
        for _ in range(1000):
            await asyncio.sleep(0.5)

    try:
        loop.run_until_complete(naps())
    finally:
        loop.close()
    assert clock.now() == 500.0
    assert turns < 5, turns


# -- real clock ----------------------------------------------------------------


def test_real_clock_reads_a_replaceable_source() -> None:
    """RealClock.now() is the source's reading minus its first one, and source can be swapped."""
    readings = [100.0]
    clock = RealClock(source=lambda: readings[0])
    assert clock.now() == 0.0
    readings[0] = 102.5
    assert clock.now() == 2.5
    clock.source = lambda: 130.0
    assert clock.now() == 30.0
