"""httpx transports over real sockets in wall time, tracing each request as the simulated transport does.

A strategy's client wraps httpx's own transport; the tracer records one `TraceEntry` per
request (client wall time, the endpoint found by the API profile, the conversations a
response showed) and what the server says its time was (`syncbench serve`'s time header),
so the trace can be moved onto the server's clock.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import httpx

from bench.api.base import TIME_HEADER
from bench.clock import RealClock
from bench.transport.trace import TraceEntry
from strategies import ApiProfile
from strategies.effects import SyncFailed
from strategies.retry import is_throttled

__all__ = ["LIMITS", "TIMEOUT", "Tracer", "shifted", "wall_client"]

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


class Tracer:
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


class _TracingTransport(httpx.BaseTransport):
    def __init__(self, tracer: Tracer) -> None:
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
    def __init__(self, tracer: Tracer) -> None:
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


def shifted(trace: list[TraceEntry], offset: float) -> list[TraceEntry]:
    """The trace on the server's clock, where the world's activity timeline is written.

    The sync is anchored where the server saw it begin (its first request's arrival), as
    the simulated sync begins when its first request reaches the simulated server; the
    durations within it are the client's own."""
    for e in trace:
        e.start, e.end = e.start + offset, e.end + offset
    return trace


def wall_client(
    fanout: str, base_url: str, auth: httpx.Auth | None, tracer: Tracer
) -> httpx.Client | httpx.AsyncClient:
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
