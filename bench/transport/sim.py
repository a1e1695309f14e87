"""httpx transports that hand each request to the simulated API on a clock, and trace it.

A strategy holds an ordinary `httpx.Client` / `httpx.AsyncClient`; only the transport
knows the server is simulated. It models a client connection pool (a new connection
pays the scenario's setup cost once), charges the response's service time to the
clock, and records one trace entry per request.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from urllib.parse import parse_qsl

import httpx

from bench.api.base import ServerCore, SimRequest, SimResponse
from bench.clock import RealClock, VirtualClock
from bench.transport.trace import TraceEntry

__all__ = ["AsyncSimTransport", "SimTransport"]


def _read_timeout(request: httpx.Request) -> float | None:
    """The client's read timeout for this request (httpx puts it in the request's extensions)."""
    timeout = request.extensions.get("timeout") or {}
    return timeout.get("read")


@lru_cache(maxsize=4096)
def _query(raw: bytes) -> tuple[tuple[str, str], ...]:
    """A raw query string's parameters, the first value of each, as `httpx.URL.params.items()` gives them.

    Cached: paged listings send the same few queries (`limit=100&offset=0`) again and again,
    and httpx parses a query afresh on every `url.params`.
    """
    first: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("ascii"), keep_blank_values=True):
        first.setdefault(key, value)
    return tuple(first.items())


def _sim_request(request: httpx.Request) -> SimRequest:
    """The simulator's view of an httpx request. httpx's `Headers` is passed as it is: it looks names up
    case-insensitively, and the simulator reads one header, so decoding them all would be wasted."""
    url = request.url
    return SimRequest(request.method, url.path, dict(_query(url.query)), request.headers)


class _SimBase:
    def __init__(self, api: ServerCore, clock: VirtualClock | RealClock) -> None:
        self.api = api
        self.clock = clock
        self.trace: list[TraceEntry] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self.connections = 0
        self._idle = 0

    def _open(self) -> tuple[float, bool]:
        """Take an idle pooled connection, or open one (its setup time is charged)."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if self._idle:
            self._idle -= 1
            return 0.0, False
        self.connections += 1
        return self.api.scenario.latency.connect_s, True

    def _answer(self, request: httpx.Request) -> tuple[str, SimResponse]:
        """The request's path and the simulated API's answer to it, now."""
        asked = _sim_request(request)
        return asked.path, self.api.handle(asked, self.clock.now())

    def _wait_s(self, request: httpx.Request, sim: SimResponse) -> float:
        """How long the client waits: the service time, or its read timeout if the server hangs past it."""
        limit = _read_timeout(request)
        return limit if limit is not None and sim.service_s > limit else sim.service_s

    def _failure(
        self, request: httpx.Request, path: str, start: float, sim: SimResponse, new: bool
    ) -> httpx.TransportError | None:
        """The httpx error the client gets instead of `sim` (a timeout, a reset, a cut body), traced; or None.

        The connection is dropped, so the next request opens a new one, as a real pool would.
        """
        limit = _read_timeout(request)
        fault = sim.transport_fault
        error: httpx.TransportError
        if limit is not None and sim.service_s > limit:
            error = httpx.ReadTimeout("The read operation timed out", request=request)
        elif fault == "reset" and new:
            error = httpx.ConnectError("[Errno 104] Connection reset by peer", request=request)
        elif fault == "reset":
            error = httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        elif fault == "truncated":
            size = len(sim.body)
            error = httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body: received {size // 2} bytes, "
                f"expected {size}",
                request=request,
            )
        else:
            return None
        self.in_flight -= 1
        self._record(request, path, start, sim, new, status=0)
        return error

    def _close(self, request: httpx.Request, path: str, start: float, sim: SimResponse, new: bool) -> httpx.Response:
        self.in_flight -= 1
        self._idle += 1
        self._record(request, path, start, sim, new, status=sim.status)
        return httpx.Response(sim.status, headers=sim.headers, content=sim.body)

    def _record(
        self, request: httpx.Request, path: str, start: float, sim: SimResponse, new: bool, status: int
    ) -> None:
        """One trace entry; status 0 means no response reached the client."""
        info = request.extensions.get("syncbench", {})
        _, account = self.api.classify(path)
        self.trace.append(
            TraceEntry(
                start=start,
                end=self.clock.now(),
                method=request.method,
                endpoint=sim.endpoint,
                path=path,
                status=status,
                bytes=len(sim.body) if status else 0,
                worker=info.get("worker", "main"),
                attempt=info.get("attempt", 1),
                phase=info.get("phase", ""),
                account=account,
                new_connection=new,
                throttled=sim.throttled,
                conversations=sim.conversations if status else (),
            )
        )


class SimTransport(_SimBase, httpx.BaseTransport):
    """Blocking transport: sleeps through the clock (virtual or real)."""

    def __init__(self, api: ServerCore, clock: VirtualClock | RealClock) -> None:
        super().__init__(api, clock)
        self._interpreter = clock.lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = self.clock.now()
        if cpu := self.api.scenario.latency.client_s:
            with self._interpreter:  # workers' client work runs one at a time, as under one GIL
                self.clock.sleep(cpu)
        setup, new = self._open()
        if setup:
            self.clock.sleep(setup)
        path, sim = self._answer(request)
        self.clock.sleep(self._wait_s(request, sim))
        if (error := self._failure(request, path, start, sim, new)) is not None:
            raise error
        return self._close(request, path, start, sim, new)


class AsyncSimTransport(_SimBase, httpx.AsyncBaseTransport):
    """Asyncio transport: waits on the running loop, whose time is the clock's."""

    _interpreter: asyncio.Lock | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = self.clock.now()
        if cpu := self.api.scenario.latency.client_s:
            self._interpreter = self._interpreter or asyncio.Lock()
            async with self._interpreter:  # one event loop: tasks' client work runs one at a time
                await asyncio.sleep(cpu)
        setup, new = self._open()
        if setup:
            await asyncio.sleep(setup)
        path, sim = self._answer(request)
        await asyncio.sleep(self._wait_s(request, sim))
        if (error := self._failure(request, path, start, sim, new)) is not None:
            raise error
        return self._close(request, path, start, sim, new)
