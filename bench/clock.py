"""Clocks: one interface (`now`, `sleep`, `executor`, `lock`, `new_event_loop`), two time sources.

`VirtualClock` makes a sync deterministic and fast. Threads it starts run one at a
time: a worker gives up its turn only inside the clock (a sleep, a lock, a future),
and when every worker is blocked, time jumps to the earliest sleeper, woken in
(time, sequence) order. Its asyncio loop reads the same virtual time, jumps to the
next timer whenever it is idle, fires timers in the same (time, sequence) order, and
ends at once a sleep that nothing else could come before. `RealClock` runs the same
code on wall time.
"""

from __future__ import annotations

import asyncio
import heapq
import selectors
import threading
import time
from collections import deque
from collections.abc import Callable
from contextvars import Context
from typing import Any, TypeVarTuple

__all__ = ["ClockError", "RealClock", "VirtualClock"]


class ClockError(RuntimeError):
    """Raised when virtual time is misused: going backwards, or every worker waits forever."""


class _Stopped(BaseException):
    """Unwinds a worker thread of a stopped clock (see `VirtualClock.stop`); not an `Exception`, so no
    strategy takes it for a failed request and retries."""


class _Task:
    """A thread the virtual scheduler knows; `wake` is released to hand it the turn."""

    __slots__ = ("name", "wake")

    def __init__(self, name: str) -> None:
        self.name = name
        self.wake = threading.Lock()
        self.wake.acquire()


class VirtualClock:
    """Deterministic simulated time for sequential, thread-pool and asyncio code."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._ready: deque[_Task] = deque()
        self._sleepers: list[tuple[float, int, _Task]] = []
        self._seq = 0
        self._tasks: dict[int, _Task] = {}
        self._started: dict[_Task, threading.Thread] = {}  # the threads this clock started, until they end
        self._stopped = False

    # -- time ---------------------------------------------------------------
    def now(self) -> float:
        return self._now

    def advance_to(self, when: float) -> None:
        if when < self._now:
            raise ClockError(f"virtual time cannot go backwards ({when} < {self._now})")
        self._now = when

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ClockError(f"cannot sleep a negative time ({seconds})")
        if self._stopped:
            raise _Stopped
        if not self._ready and not self._sleepers:
            self._now += seconds  # nobody else can run before then: time simply passes
            return
        me = self._adopt_caller()
        self._seq += 1
        heapq.heappush(self._sleepers, (self._now + seconds, self._seq, me))
        self._switch(me)

    # -- scheduling ---------------------------------------------------------
    def _me(self) -> _Task | None:
        return self._tasks.get(threading.get_ident())

    def _adopt_caller(self) -> _Task:
        """Make the calling thread (the driver) a scheduled task, holding the turn."""
        me = self._me()
        if me is None:
            me = _Task(threading.current_thread().name)
            self._tasks[threading.get_ident()] = me
        return me

    def _next(self) -> _Task:
        if self._ready:
            return self._ready.popleft()
        if self._sleepers:
            when, _, task = heapq.heappop(self._sleepers)
            self._now = max(self._now, when)
            return task
        raise ClockError("deadlock: every worker is waiting and no timer is pending")

    def _switch(self, me: _Task) -> None:
        """Give up the turn (the caller is already queued somewhere) and wait for it back."""
        if self._stopped:
            raise _Stopped
        nxt = self._next()
        if nxt is me:
            return
        self._hand(nxt)
        me.wake.acquire()
        if self._stopped:
            raise _Stopped

    def _hand(self, task: _Task) -> None:
        try:
            task.wake.release()
        except RuntimeError:  # already released by `stop`
            if not self._stopped:
                raise

    def stop(self) -> None:
        """End every thread this clock started and wait until they are gone.

        An interrupt (Ctrl-C, SIGTERM) reaches the driving thread wherever the virtual schedule is,
        perhaps while a worker holds the turn inside the store. Every worker is handed the turn at
        once and unwinds with `_Stopped` at its next wait on the clock, so nothing the run owns (its
        SQLite connection above all) is closed while a worker still uses it. A clock whose workers
        all finished stops at once."""
        self._stopped = True
        current = threading.current_thread()
        started = list(self._started.items())
        for task, thread in started:
            if thread is not current:
                self._hand(task)
        for _, thread in started:
            if thread is not current and thread.ident is not None:  # one interrupted while starting never runs a step
                thread.join()

    def _block(self, waiters: deque[_Task]) -> None:
        me = self._adopt_caller()
        waiters.append(me)
        try:
            self._switch(me)
        except ClockError:
            waiters.remove(me)  # a deadlocked waiter must not be woken later by a notify
            raise

    def _yield(self) -> None:
        """Let every ready worker run before the caller goes on."""
        if not self._ready and not self._sleepers:
            raise ClockError("deadlock: waiting for workers that are all blocked")
        me = self._adopt_caller()
        self._ready.append(me)
        self._switch(me)

    def _notify_one(self, waiters: deque[_Task]) -> None:
        if waiters:
            self._ready.append(waiters.popleft())

    def _notify_all(self, waiters: deque[_Task]) -> None:
        self._ready.extend(waiters)
        waiters.clear()

    def start_thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a thread that runs `target` only when handed the turn."""
        self._adopt_caller()
        task = _Task(name)

        def run() -> None:
            task.wake.acquire()
            try:
                if not self._stopped:
                    target()
            except _Stopped:
                pass
            finally:
                self._tasks.pop(threading.get_ident(), None)  # unregistered if stopped while starting
                nxt: _Task | None
                try:
                    nxt = None if self._stopped else self._next()
                except ClockError:
                    nxt = None
                if nxt is not None:
                    self._hand(nxt)
                del self._started[task]

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._started[task] = thread
        self._ready.append(task)
        thread.start()
        assert thread.ident is not None  # start() has set it
        self._tasks[thread.ident] = task
        return thread

    # -- primitives strategies use ------------------------------------------
    def lock(self) -> VirtualLock:
        return VirtualLock(self)

    def executor(self, max_workers: int, name: str = "worker-") -> VirtualExecutor:
        return VirtualExecutor(self, max_workers, name)

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return _VirtualEventLoop(self)


class VirtualLock:
    """A mutex whose waiters yield their turn to the virtual scheduler."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._held = False
        self._waiters: deque[_Task] = deque()

    def __enter__(self) -> VirtualLock:
        while self._held:
            self._clock._block(self._waiters)
        self._held = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._held = False
        self._clock._notify_all(self._waiters)


class VirtualFuture:
    """The result of a submitted call; `result()` waits through the clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._waiters: deque[_Task] = deque()

    def done(self) -> bool:
        return self._done

    def _finish(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error, self._done = value, error, True
        self._clock._notify_all(self._waiters)

    def result(self) -> Any:
        while not self._done:
            self._clock._block(self._waiters)
        if self._error is not None:
            raise self._error
        return self._value


class VirtualExecutor:
    """A thread pool on virtual time: workers start lazily, up to `max_workers`, like
    `concurrent.futures.ThreadPoolExecutor`, and take work in submission order."""

    def __init__(self, clock: VirtualClock, max_workers: int, name: str = "worker-") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._clock = clock
        self._name = name
        self._max = max_workers
        self._queue: deque[tuple[Callable[[], Any], VirtualFuture]] = deque()
        self._idle: deque[_Task] = deque()
        self._threads: list[threading.Thread] = []
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> VirtualFuture:
        future = VirtualFuture(self._clock)
        self._queue.append((lambda: fn(*args), future))
        if not self._idle and len(self._threads) < self._max:
            n = len(self._threads)
            self._threads.append(self._clock.start_thread(self._work, f"{self._name}{n}"))
        else:
            self._clock._notify_one(self._idle)
        return future

    def _work(self) -> None:
        while True:
            while not self._queue and not self._shutdown:
                self._clock._block(self._idle)
            if not self._queue:
                return
            call, future = self._queue.popleft()
            try:
                value = call()
            except BaseException as error:  # handed to whoever waits on the future
                future._finish(error=error)
            else:
                future._finish(value)

    def shutdown(self, wait: bool = True) -> None:
        self._shutdown = True
        self._clock._notify_all(self._idle)
        if wait:
            while any(t.ident in self._clock._tasks for t in self._threads):
                self._clock._yield()
            for thread in self._threads:
                thread.join()

    def __enter__(self) -> VirtualExecutor:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        # an interrupt (Ctrl-C) leaves the virtual schedule mid-turn: waiting for the workers would
        # hang, and they are daemon threads, so the process can still exit
        interrupted = kind is not None and not issubclass(kind, Exception)
        self.shutdown(wait=not interrupted)


class _VirtualSelector(selectors.DefaultSelector):
    """Polls real descriptors without blocking; an idle wait moves virtual time instead."""

    _fd_to_key: dict[int, selectors.SelectorKey]  # the base selector's registrations (not in its stubs)

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    @property
    def polling(self) -> bool:
        """Whether real descriptors are registered (the loop's own wake-up pipe aside)."""
        return len(self._fd_to_key) > 1

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0) if self.polling else []
        if events or timeout == 0:
            return events
        if timeout is None:
            raise ClockError("deadlock: the event loop is idle with no timer pending")
        self._clock._now += timeout
        return []


#: the callback `asyncio.sleep` schedules to end a sleep (private to asyncio: should a Python release
#: rename it, no sleep is recognised and every sleep suspends, as plain asyncio does)
_END_SLEEP: Callable[..., object] | None = getattr(asyncio.futures, "_set_result_unless_cancelled", None)
#: the longest wait asyncio's loop hands its selector
_LONGEST_WAIT = getattr(asyncio.base_events, "MAXIMUM_SELECT_TIMEOUT", 24 * 3600)
_Ts = TypeVarTuple("_Ts")


def _no_callback() -> None:
    """The callback of a timer that is cancelled before it is ever scheduled."""


class _Timer(asyncio.TimerHandle):
    """A timer that falls due after every timer set before it for the same instant (asyncio alone
    leaves the order of equal times to the heap's layout), as the thread scheduler orders sleepers."""

    __slots__ = ("_seq",)
    _seq: int
    _when: float  # asyncio's own slots, which its stubs do not type
    _scheduled: bool

    def __lt__(self, other: _Timer) -> bool:  # type: ignore[override]  # heapq compares with `<` only
        return self._when < other._when or (self._when == other._when and self._seq < other._seq)


class _VirtualEventLoop(asyncio.SelectorEventLoop):
    # the base loop's private state this loop reads (not in asyncio's stubs)
    _selector: _VirtualSelector
    _ready: deque[asyncio.Handle]
    _scheduled: list[_Timer]  # a heap: every timer is set through `call_at`
    _stopping: bool
    _clock_resolution: float
    _check_closed: Callable[[], None]

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_VirtualSelector(clock))
        self._virtual_clock = clock
        self._timers = 0
        self._ended = _Timer(0.0, _no_callback, (), self)  # what a sleep that ended at once gets to cancel
        self._ended.cancel()

    def time(self) -> float:
        return self._virtual_clock._now

    def call_at(
        self, when: float, callback: Callable[[*_Ts], object], *args: *_Ts, context: Context | None = None
    ) -> _Timer:
        """Schedule as asyncio does, in (time, order set) order; a sleep that ends before anything else
        can happen ends at once.

        When nothing is ready and no other timer falls due before a sleep's end, the sleeping task is
        the next to run anyway: the loop would idle, move time to the end of the sleep and wake it.
        Time moves the same way here (the same arithmetic), the sleep's future is resolved, and
        `asyncio.sleep` returns without suspending its task. The order of events is unchanged; tasks
        started with `eager_start=True` are not supported (their first steps run inside the step that
        starts them). On pms-1000 with 20 tasks, 38% of the sleeps end this way; asyncio's own
        machinery had been a seventh of such a run's host time.
        """
        if callback is _END_SLEEP and self._next_to_wake(when):
            callback(*args)  # the sleep's future is done: `await` goes straight on
            return self._ended
        self._check_closed()
        self._timers += 1
        timer = _Timer(when, callback, args, self, context)
        timer._seq = self._timers
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    def _next_to_wake(self, when: float) -> bool:
        """Whether a timer at `when` would be the only thing the loop's next turn runs; if so, move
        time to where that turn would put it."""
        if self._ready or self._stopping or self._selector.polling:
            return False
        if self.get_task_factory() is not None:  # eager tasks run a child's steps inside its parent's
            return False
        task = asyncio.current_task(self)
        if task is None or task.cancelling():  # a cancellation waits for the task's next suspension
            return False
        now = self._virtual_clock._now
        after = now + min(max(0.0, when - now), _LONGEST_WAIT)  # as the idle select moves it
        due = after + self._clock_resolution
        scheduled = self._scheduled
        if when >= due or (scheduled and scheduled[0]._when < due):
            return False
        self._virtual_clock._now = after
        return True


class RealClock:
    """Wall time with the standard library's primitives; `source` is replaceable in tests."""

    def __init__(self, source: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self._origin = source()

    def now(self) -> float:
        return self.source() - self._origin

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def lock(self) -> threading.Lock:
        return threading.Lock()

    def executor(self, max_workers: int, name: str = "worker-") -> Any:
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name.rstrip("-_"))

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()
