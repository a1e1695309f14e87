"""Run a strategy over real sockets in wall time: RealClock, a real httpx client, a client-side trace.

The same strategies and drivers as the in-process runner, with no simulated transport:
the trace (calls, throttling, makespan, connections) is recorded by a transport that
wraps httpx's own. Coverage needs ground truth, so it is computed only when the world
is known (a run against `syncbench serve` of the same scenario and seed); otherwise it
is null. The token reaches the client as httpx auth and is scrubbed from every row.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.api.base import TIME_HEADER
from bench.clock import RealClock
from bench.errors import HarnessError
from bench.measure.metrics import measure, r6, union_seconds
from bench.run.runner import RunResult, RunSpec
from bench.store import SqliteStore
from bench.transport.trace import TraceEntry
from bench.world.records import World
from bench.world.truth import truth_for
from strategies import ApiProfile, Strategy, SyncContext, get_strategy, run_async, run_sequential, run_threads
from strategies.drivers import Outcome
from strategies.effects import SyncFailed
from strategies.retry import is_throttled

__all__ = ["check_base_url", "run_real", "scrub"]

REDACTED = "[redacted]"
#: no pool ceiling and no idle expiry, as the simulated pool assumes; httpx's defaults
#: (100 connections, 20 kept alive, 5 s expiry) would make wide runs reconnect
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=None)
#: httpx's default, which the simulated transport honours too (a server slower than this times out)
TIMEOUT = httpx.Timeout(5.0)
#: modules the first request or fan-out would import lazily (~10-50 ms, once per process): a
#: long-running service paid that long ago, and the simulated run never pays it
_LAZY_IMPORTS = (
    "concurrent.futures.thread",
    "encodings.idna",
    "anyio",
    "anyio._backends._asyncio",
    "anyio._core._sockets",
    "anyio.streams.tls",
    "anyio.streams.stapled",
    "httpcore._backends.anyio",
)


def check_base_url(base_url: str, timeout: float = 3.0) -> None:
    """Refuse a malformed or unreachable base URL up front (one line, never the URL's secrets)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HarnessError("--base-url must be an http:// or https:// URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise HarnessError(f"cannot reach {parts.scheme}://{parts.hostname}:{port}: {reason}") from None


class _Tracer:
    """One trace entry per request, in client wall time, plus what the server says its time was."""

    def __init__(self, clock: RealClock, profile: ApiProfile) -> None:
        self.clock = clock
        self.profile = profile
        self._done: list[tuple[float, float, bool, httpx.Request, httpx.Response | None]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.connections = 0
        #: (client start, server arrival t) of the earliest request the server reported its time for
        self.first: tuple[float, float] | None = None

    def begin(self) -> float:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return self.clock.now()

    def end(self, request: httpx.Request, response: httpx.Response | None, start: float, new: bool) -> None:
        """Note the request (`response` None: none reached the client, traced as status 0, as the
        simulated transport does); all but the timestamps waits for `entries`, off the sync's path."""
        end = self.clock.now()
        self.in_flight -= 1
        self.connections += new
        self._done.append((start, end, new, request, response))
        if response is None:
            return
        if self.first is None or start < self.first[0]:
            try:
                self.first = (start, float(response.headers[TIME_HEADER]))
            except (KeyError, ValueError):
                pass

    def entries(self) -> list[TraceEntry]:
        """The trace, in the order requests finished, with the endpoint and conversations of each."""
        trace = []
        for start, end, new, request, response in self._done:
            route = self.profile.route(request.url.path)
            endpoint, values = route if route is not None else ("unknown", {})
            info = request.extensions.get("syncbench", {})
            trace.append(
                TraceEntry(
                    start=start,
                    end=end,
                    method=request.method,
                    endpoint=endpoint,
                    path=request.url.path,
                    status=response.status_code if response else 0,
                    bytes=len(response.content) if response else 0,
                    worker=info.get("worker", "main"),
                    attempt=info.get("attempt", 1),
                    phase=info.get("phase", ""),
                    account=values.get("account"),
                    new_connection=new,
                    throttled=is_throttled(response) if response else False,
                    conversations=self._shown(request, endpoint, values, response) if response else (),
                )
            )
        return trace

    def _shown(
        self, request: httpx.Request, endpoint: str, values: dict[str, str], response: httpx.Response
    ) -> tuple[int, ...]:
        """Conversations a response listed or served messages of, as the simulated transport records."""
        if response.status_code != 200:
            return ()
        if endpoint == "messages":
            return (int(values["conversation"]),) if values.get("conversation", "").isdigit() else ()
        if endpoint not in ("conversations", "reservation_conversations"):
            return ()
        response.request = request  # the same request the client set; entries() may run before it did
        try:
            records = self.profile.body(response)[self.profile.result_field]
        except SyncFailed:
            return ()
        return tuple(r["id"] for r in records if isinstance(r, dict) and isinstance(r.get("id"), int))


class _WallStore:
    """The SQLite store on wall time: a write's modelled cost (the scenario's database round
    trips) is the whole cost, so the real time the local SQLite write took is deducted from it,
    not paid on top of it as the simulated run never pays it."""

    def __init__(self, store: SqliteStore, clock: RealClock) -> None:
        self._store = store
        self._clock = clock

    def bookmark(self, account: str) -> int | None:
        return self._store.bookmark(account)

    def write(self, kind: str, account: str, rows: list[dict[str, Any]]) -> float:
        began = self._clock.now()
        cost = self._store.write(kind, account, rows)
        return max(0.0, cost - (self._clock.now() - began))


class _TracingTransport(httpx.BaseTransport):
    def __init__(self, tracer: _Tracer) -> None:
        self.inner = httpx.HTTPTransport(limits=LIMITS)
        self.tracer = tracer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        opened: list[bool] = []

        def hook(name: str, info: dict[str, Any]) -> None:
            if name == "connection.connect_tcp.complete":
                opened.append(True)

        request.extensions["trace"] = hook
        start = self.tracer.begin()
        try:
            response = self.inner.handle_request(request)
            response.read()
        except BaseException:
            self.tracer.end(request, None, start, bool(opened))
            raise
        self.tracer.end(request, response, start, bool(opened))
        return response

    def close(self) -> None:
        self.inner.close()


class _AsyncTracingTransport(httpx.AsyncBaseTransport):
    def __init__(self, tracer: _Tracer) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=LIMITS)
        self.tracer = tracer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        opened: list[bool] = []

        async def hook(name: str, info: dict[str, Any]) -> None:
            if name == "connection.connect_tcp.complete":
                opened.append(True)

        request.extensions["trace"] = hook
        start = self.tracer.begin()
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
        except BaseException:
            self.tracer.end(request, None, start, bool(opened))
            raise
        self.tracer.end(request, response, start, bool(opened))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def scrub(value: Any, secret: str | None) -> Any:
    """`value` with every occurrence of `secret` in its strings replaced: rows may quote URLs."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, dict):
        return {scrub(k, secret): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, secret) for v in value)
    return value


def _shifted(trace: list[TraceEntry], offset: float) -> list[TraceEntry]:
    """The trace on the server's clock, where the world's activity timeline is written.

    The sync is anchored where the server saw it begin (its first request's arrival), as
    the simulated sync begins when its first request reaches the simulated server; the
    durations within it are the client's own."""
    for e in trace:
        e.start, e.end = e.start + offset, e.end + offset
    return trace


def _unknown_truth(
    trace: list[TraceEntry], outcome: Outcome, tracer: _Tracer, start: float, end: float
) -> dict[str, Any]:
    """The measured fields a run without ground truth can honestly give; the rest are null."""
    phases: dict[str, list[tuple[float, float]]] = {}
    for e in trace:
        phases.setdefault(e.phase or "other", []).append((e.start, e.end))
    if outcome.stats.store_spans:
        phases["store"] = outcome.stats.store_spans
    calls: dict[str, int] = {}
    pages: dict[str, int] = {}
    for e in trace:
        calls[e.endpoint] = calls.get(e.endpoint, 0) + 1
        if e.endpoint in ("reservations", "conversations") and e.status == 200:
            pages[e.endpoint] = pages.get(e.endpoint, 0) + 1
    makespan = end - start
    lower = outcome.stats.critical_path_s if outcome.error is None else 0.0
    return {
        "status": "failed" if outcome.error else "ok",
        "error": outcome.error,
        "makespan_s": r6(makespan),
        "phase_seconds": {k: r6(union_seconds(v)) for k, v in sorted(phases.items())},
        "api_calls": len(trace),
        "calls_by_endpoint": dict(sorted(calls.items())),
        "pages_by_endpoint": dict(sorted(pages.items())),
        "rate_limited": sum(e.throttled for e in trace),
        "retries": outcome.stats.retries,
        "peak_concurrency": tracer.peak_in_flight,
        "connections": tracer.connections,
        "conversations_expected": None,
        "conversations_found": None,
        "conversations_missed": None,
        "missed": [],
        "overfetched": None,
        "ahead": None,
        "duplicates": None,
        "messages_expected": None,
        "messages_stored": None,
        "coverage": None,
        "lower_bound_s": r6(lower),
        "efficiency": r6(lower / makespan) if makespan > 0 and lower else 0.0,
        "note": "coverage unknown: no ground truth without --scenario (the server's world)",
    }


def _client(fanout: str, base_url: str, auth: httpx.Auth | None, tracer: _Tracer) -> httpx.Client | httpx.AsyncClient:
    """A client built before the sync starts: building one costs ~60 ms (its TLS context), a
    cost a long-running service pays once, not per sync, and the simulated run does not model."""
    for module in _LAZY_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    if fanout == "async":
        return httpx.AsyncClient(
            transport=_AsyncTracingTransport(tracer), base_url=base_url, auth=auth, timeout=TIMEOUT
        )
    return httpx.Client(transport=_TracingTransport(tracer), base_url=base_url, auth=auth, timeout=TIMEOUT)


def _drive(spec: RunSpec, strategy: Strategy, ctx: SyncContext, client: httpx.Client | httpx.AsyncClient) -> Outcome:
    if isinstance(client, httpx.AsyncClient):
        return run_async(ctx, strategy.sync(ctx), client)  # closes the client
    with client:
        driver = run_threads if spec.fanout == "threads" else run_sequential
        return driver(ctx, strategy.sync(ctx), client)


def run_real(
    spec: RunSpec,
    base_url: str,
    *,
    world: World | None,
    profile: ApiProfile | None = None,
    token: str | None = None,
) -> RunResult:
    """Run the scenario's syncs against `base_url` in wall time; one row per sync.

    `world` is the server's world when known (the same scenario and seed as `syncbench
    serve`): it gives the bookmark, the sync schedule and the ground truth. Trace times
    are moved onto the server's clock when it reports it (the `x-syncbench-t` header).
    """
    scenario, opts = spec.scenario, spec.options
    strategy = get_strategy(spec.strategy)  # before any clock starts: it scans installed entry points (~40 ms)
    profile = profile or ApiProfile(
        pagination=scenario.dialect.pagination,
        page_size=scenario.dialect.page_size,
        since_format=scenario.dialect.since_format,
    )
    auth = profile.auth_for(token) if token else None
    clock = RealClock()
    store = SqliteStore(cost=scenario.store, write_mode=opts.write_mode, chunk_size=opts.chunk_size)
    if world is not None and world.cutoff_ms is not None:
        for account in world.accounts:
            store.set_bookmark(account, world.cutoff_ms)
    rows: list[dict[str, Any]] = []
    trace: list[TraceEntry] = []
    since_t = None if world is None or world.cutoff_ms is None else (world.cutoff_ms - scenario.start_ms) / 1000
    carried: frozenset[int] = frozenset()
    offset = 0.0
    schedule = scenario.sync_times if world is not None else [0.0]
    for index, scheduled in enumerate(schedule):
        if index:
            clock.sleep(scheduled - offset - clock.now())
        tracer = _Tracer(clock, profile)
        client = _client(spec.fanout, base_url, auth, tracer)
        start_t = clock.now()
        store.begin_sync()
        rng = random.Random(f"{scenario.seed}:{index}")
        ctx = SyncContext(clock=clock, store=_WallStore(store, clock), options=opts, profile=profile, rng=rng)
        outcome = _drive(spec, strategy, ctx, client)
        end_t = clock.now()
        offset = tracer.first[1] - start_t if tracer.first is not None else offset
        entries = _shifted(tracer.entries(), offset)
        start_t, end_t = start_t + offset, end_t + offset
        outcome.stats.store_spans = [(a + offset, b + offset) for a, b in outcome.stats.store_spans]
        key = spec.key(index)
        key["options"] = {**key["options"], "clock": "real"}
        if world is None:
            row = key | _unknown_truth(entries, outcome, tracer, start_t, end_t)
        else:
            truth = truth_for(
                world, since_t=None if strategy.full else since_t, start_t=start_t, end_t=end_t, carried=carried
            )
            row = key | measure(
                world=world,
                truth=truth,
                trace=entries,
                store=store,
                stats=outcome.stats,
                start_t=start_t,
                end_t=end_t,
                peak_concurrency=tracer.peak_in_flight,
                connections=tracer.connections,
                since_t=since_t,
                status="failed" if outcome.error else "ok",
                error=outcome.error,
            )
            carried = truth.owed(store.message_versions())
        rows.append(scrub(row, token))
        trace.extend(entries)
        since_t = start_t if outcome.error is None else since_t
    store.close()
    return RunResult(rows, trace)
