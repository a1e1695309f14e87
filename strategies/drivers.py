"""Fan-out drivers: carry out a strategy's effects sequentially, on a thread pool, or on asyncio.

Every driver sends calls through httpx, paces them with the optional throttle,
retries throttling and server errors through the shared policy, and sleeps only
through the context's clock (or the running event loop, whose time is the clock's).
A request throttled again on a retry, with no wait told (a bare 429, a usage 400/403),
holds every worker of the sync for its backoff, not only itself: otherwise the other
workers keep the quota spent and it loses every draw until its budget runs out.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx

from strategies.adaptive import AdaptiveLimit
from strategies.context import SyncContext
from strategies.effects import Call, Effect, FanOut, SyncFailed, SyncGen, Write
from strategies.retry import RetryPolicy, is_throttled, retry_after_s, retryable
from strategies.throttle import Throttle

__all__ = ["FANOUTS", "DriverStats", "Outcome", "run_async", "run_sequential", "run_threads"]

FANOUTS = ("sequential", "threads", "async")
#: the most workers adaptive concurrency may grow to
ADAPTIVE_CEILING = 128


@dataclass
class DriverStats:
    retries: int = 0
    store_spans: list[tuple[float, float]] = field(default_factory=list)
    #: the longest chain of effects that must run one after another, each call costing
    #: its successful attempt: the time the sync would take with unlimited workers
    critical_path_s: float = 0.0


class _Base:
    def __init__(self, ctx: SyncContext, client: httpx.Client | httpx.AsyncClient) -> None:
        self.ctx = ctx
        self._prefix = _absolute_prefix(client)
        self.stats = DriverStats()
        self.policy = RetryPolicy(attempts=ctx.options.max_retries + 1)
        self.throttle = Throttle(ctx.options.throttle) if ctx.options.throttle else None
        opts = ctx.options
        self.adaptive = AdaptiveLimit(opts.workers, ADAPTIVE_CEILING) if opts.adaptive else None
        self._hold_until = 0.0

    def _request(
        self, client: httpx.Client | httpx.AsyncClient, call: Call, worker: str, attempt: int
    ) -> httpx.Request:
        info = {"worker": worker, "attempt": attempt, "phase": call.phase}
        url, params = _target(self._prefix, call)
        return client.build_request(call.method, url, params=params, extensions={"syncbench": info})

    def _outcome(
        self, call: Call, attempt: int, response: httpx.Response | None, error: Exception | None, elapsed: float
    ) -> httpx.Response | float:
        """The final response, or the seconds to wait before the next attempt (`elapsed`: since the first began)."""
        if response is not None and not retryable(response):
            return response
        wait = self.policy.decide(attempt, response, self.ctx.rng, elapsed)
        if isinstance(wait, str):
            if response is None:
                what = type(error).__name__
            else:
                what = "malformed JSON" if response.status_code == 200 else f"HTTP {response.status_code}"
            raise SyncFailed(f"{call.method} {call.path}: gave up after {attempt} attempts ({what}), {wait}", response)
        self.stats.retries += 1
        if attempt > 1 and response is not None and is_throttled(response) and retry_after_s(response) is None:
            # throttled again, and not told how long: every worker backs off, so this request gets its turn
            self._hold_until = max(self._hold_until, self.ctx.clock.now() + wait)
        return wait

    def _hold(self) -> float:
        """Seconds every worker still waits after a retry was throttled with no wait told (0 below a
        nanosecond, which a sleep could not advance the clock past)."""
        left = self._hold_until - self.ctx.clock.now()
        return left if left > 1e-9 else 0.0

    def _pace(self) -> float:
        return self.throttle.reserve(self.ctx.clock.now()) if self.throttle else 0.0

    def _width(self, fan: FanOut, levels: frozenset[str]) -> int:
        """How many of the fan-out's tasks may run at once here (1: run them inline)."""
        if fan.level in levels:
            return 1  # already inside a pool of this level: nested fan-outs run in place
        opts = self.ctx.options
        if fan.level == "items":
            return min(ADAPTIVE_CEILING if self.adaptive else opts.workers, len(fan.tasks))
        return min(opts.account_workers, len(fan.tasks))

    def _held_back(self) -> float:
        """Seconds to wait before looking again whether adaptive concurrency admits one more call."""
        if self.adaptive is None or self.adaptive.admits():
            if self.adaptive is not None:
                self.adaptive.in_flight += 1
            return 0.0
        return self.adaptive.poll_s

    def _answered(self, response: httpx.Response | None) -> None:
        if self.adaptive is not None:
            self.adaptive.in_flight -= 1
            self.adaptive.observe(response, self.ctx.clock.now())

    @staticmethod
    def _gathered(results: list[Any]) -> tuple[list[Any], float]:
        """The tasks' values in order and the fan-out's critical path, or the first failure."""
        for result in results:
            if isinstance(result, _Failed):
                raise result.error
        return [value for value, _ in results], max((path for _, path in results), default=0.0)


def _absolute_prefix(client: httpx.Client | httpx.AsyncClient) -> str | None:
    """The absolute URL that the client puts before a relative path (`http://api.sim/`), or None when
    requests must go through httpx's own merging: the client has default params, or a base URL that is
    not a plain absolute one."""
    base = client.base_url
    if client.params or not base.is_absolute_url or base.query or base.fragment:
        return None
    return str(client.build_request("GET", "").url)


def _target(prefix: str | None, call: Call) -> tuple[str, dict[str, Any] | None]:
    """The URL and params to build `call`'s request from: the very request that `params=call.params` gives.

    From a relative path and `params=`, httpx parses the URL three times (the path, the path joined to
    the base URL, the query added), which made building a request a third of a simulated request's host
    time. With a `prefix`, the params are encoded into the URL as httpx encodes them (replacing a query
    the path holds, as `params=` does) and a relative path is joined to the prefix as httpx joins it,
    so httpx parses the URL once.
    """
    if prefix is None:
        return call.path, call.params or None  # an empty mapping would drop a query in the path (a next link)
    url = call.path
    if call.params:
        url = f"{url.partition('?')[0]}?{_query_string(call.params)}"
    if url.startswith("/") and not url.startswith("//"):
        url = prefix + url.lstrip("/")
    return url, None


def _query_string(params: dict[str, Any]) -> str:
    """`params` encoded as httpx encodes `params=`; cached, as pages ask the same few queries again and again."""
    try:  # typed, since True == 1 == 1.0 but they encode as "true", "1" and "1.0"
        return _cached_query_string(tuple((name, type(value), value) for name, value in params.items()))
    except TypeError:  # a value that cannot be a cache key, such as a list
        return str(httpx.QueryParams(params))


@functools.lru_cache(maxsize=4096)
def _cached_query_string(items: tuple[tuple[str, type, Any], ...]) -> str:
    return str(httpx.QueryParams({name: value for name, _, value in items}))


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


class _SyncDriver(_Base):
    def __init__(self, ctx: SyncContext, client: httpx.Client, pooled: bool) -> None:
        super().__init__(ctx, client)
        self.client = client
        self.pooled = pooled

    def run(self, gen: SyncGen, worker: str, levels: frozenset[str] = frozenset()) -> tuple[Any, float]:
        """Carry out `gen`'s effects; returns its value and its critical path."""
        send: Any = gen.send
        payload: Any = None
        path = 0.0
        while True:
            try:
                effect = send(payload)
            except StopIteration as stop:
                return stop.value, path
            try:
                (payload, cost), send = self.perform(effect, worker, levels), gen.send
                path += cost
            except (SyncFailed, httpx.HTTPError) as error:
                payload, send = error, gen.throw

    def perform(self, effect: Effect, worker: str, levels: frozenset[str]) -> tuple[Any, float]:
        if isinstance(effect, Call):
            return self.call(effect, worker)
        if isinstance(effect, Write):
            seconds = self.ctx.store.write(effect.kind, effect.account, effect.rows)
            start = self.ctx.clock.now()
            self.ctx.clock.sleep(seconds)
            self.stats.store_spans.append((start, self.ctx.clock.now()))
            return None, seconds
        return self.fan_out(effect, worker, levels)

    def call(self, call: Call, worker: str) -> tuple[httpx.Response, float]:
        clock = self.ctx.clock
        first = clock.now()
        for attempt in count(1):
            while wait := self._hold():
                clock.sleep(wait)
            while wait := self._held_back():
                clock.sleep(wait)
            if wait := self._pace():
                clock.sleep(wait)
            response, error = None, None
            start = clock.now()
            try:
                response = self.client.send(self._request(self.client, call, worker, attempt))
            except httpx.TransportError as exc:
                error = exc
            self._answered(response)
            outcome = self._outcome(call, attempt, response, error, clock.now() - first)
            if isinstance(outcome, httpx.Response):
                return outcome, clock.now() - start
            clock.sleep(outcome)
        raise AssertionError("unreachable")

    def fan_out(self, fan: FanOut, worker: str, levels: frozenset[str]) -> tuple[list[Any], float]:
        width = self._width(fan, levels) if self.pooled else 1
        inner = levels | {fan.level}
        if width <= 1:
            return self._gathered([self.run(task, worker, inner) for task in fan.tasks])
        prefix = f"{worker}/{'a' if fan.level == 'accounts' else 'w'}"

        def job(task: SyncGen) -> Any:
            try:
                return self.run(task, threading.current_thread().name, inner)
            except Exception as error:  # raised in order once every task is done
                return _Failed(error)

        with self.ctx.clock.executor(width, prefix) as pool:
            futures = [pool.submit(job, task) for task in fan.tasks]
            return self._gathered([f.result() for f in futures])


class _AsyncDriver(_Base):
    def __init__(self, ctx: SyncContext, client: httpx.AsyncClient) -> None:
        super().__init__(ctx, client)
        self.client = client

    async def run(self, gen: SyncGen, worker: str, levels: frozenset[str] = frozenset()) -> tuple[Any, float]:
        """Carry out `gen`'s effects; returns its value and its critical path."""
        send: Any = gen.send
        payload: Any = None
        path = 0.0
        while True:
            try:
                effect = send(payload)
            except StopIteration as stop:
                return stop.value, path
            try:
                (payload, cost), send = await self.perform(effect, worker, levels), gen.send
                path += cost
            except (SyncFailed, httpx.HTTPError) as error:
                payload, send = error, gen.throw

    async def perform(self, effect: Effect, worker: str, levels: frozenset[str]) -> tuple[Any, float]:
        if isinstance(effect, Call):
            return await self.call(effect, worker)
        if isinstance(effect, Write):
            seconds = self.ctx.store.write(effect.kind, effect.account, effect.rows)
            start = self.ctx.clock.now()
            await asyncio.sleep(seconds)
            self.stats.store_spans.append((start, self.ctx.clock.now()))
            return None, seconds
        return await self.fan_out(effect, worker, levels)

    async def call(self, call: Call, worker: str) -> tuple[httpx.Response, float]:
        clock = self.ctx.clock
        first = clock.now()
        for attempt in count(1):
            while wait := self._hold():
                await asyncio.sleep(wait)
            while wait := self._held_back():
                await asyncio.sleep(wait)
            if wait := self._pace():
                await asyncio.sleep(wait)
            response, error = None, None
            start = clock.now()
            try:
                response = await self.client.send(self._request(self.client, call, worker, attempt))
            except httpx.TransportError as exc:
                error = exc
            self._answered(response)
            outcome = self._outcome(call, attempt, response, error, clock.now() - first)
            if isinstance(outcome, httpx.Response):
                return outcome, clock.now() - start
            await asyncio.sleep(outcome)
        raise AssertionError("unreachable")

    async def fan_out(self, fan: FanOut, worker: str, levels: frozenset[str]) -> tuple[list[Any], float]:
        width = self._width(fan, levels)
        inner = levels | {fan.level}
        if width <= 1:
            return self._gathered([await self.run(task, worker, inner) for task in fan.tasks])
        prefix = f"{worker}/{'a' if fan.level == 'accounts' else 'w'}"
        results: list[Any] = [None] * len(fan.tasks)
        queue = iter(enumerate(fan.tasks))

        async def slot(label: str) -> None:
            for index, task in queue:
                try:
                    results[index] = await self.run(task, label, inner)
                except Exception as error:
                    results[index] = _Failed(error)

        await asyncio.gather(*(slot(f"{prefix}{i}") for i in range(width)))
        return self._gathered(results)


@dataclass
class Outcome:
    """How a sync ended: its value, the driver's figures, and the reason when it failed."""

    value: Any
    stats: DriverStats
    error: str | None = None


def _finish(driver: _Base, run: Callable[[], tuple[Any, float]]) -> Outcome:
    try:
        value, driver.stats.critical_path_s = run()
    except (SyncFailed, httpx.HTTPError) as error:
        return Outcome(None, driver.stats, str(error) or type(error).__name__)
    return Outcome(value, driver.stats)


def run_sequential(ctx: SyncContext, root: SyncGen, client: httpx.Client) -> Outcome:
    driver = _SyncDriver(ctx, client, pooled=False)
    return _finish(driver, lambda: driver.run(root, "main"))


def run_threads(ctx: SyncContext, root: SyncGen, client: httpx.Client) -> Outcome:
    driver = _SyncDriver(ctx, client, pooled=True)
    return _finish(driver, lambda: driver.run(root, "main"))


def run_async(ctx: SyncContext, root: SyncGen, client: httpx.AsyncClient) -> Outcome:
    """Run on a fresh event loop from the context's clock (virtual time under the harness)."""
    driver = _AsyncDriver(ctx, client)
    loop = ctx.clock.new_event_loop()
    try:
        return _finish(driver, lambda: loop.run_until_complete(driver.run(root, "main")))
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
