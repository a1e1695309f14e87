"""One sync session: the syncs of one world on one store and clock, whichever way the requests travel.

The virtual run of a scenario, the run over real sockets, the replay of a recording and the
property tests' stepped syncs all sync through `Session.sync`. The session owns what must
not drift between them: the store's first bookmarks (the previous sync's start minus the
lookback), the API profile of the scenario's dialect, the window each sync is judged on,
the messages a sync still owes its successor, and the measured fields of the row. A `Link`
is the only part that differs: how a sync's requests reach the server and are traced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from bench.api.base import ServerCore
from bench.clock import RealClock, VirtualClock
from bench.measure.metrics import measure
from bench.scenario.model import Scenario
from bench.store import SqliteStore
from bench.transport.sim import AsyncSimTransport, SimTransport
from bench.transport.trace import TraceEntry
from bench.world.records import World
from bench.world.truth import Truth, truth_for
from strategies import ApiProfile, DriverStats, Options, Strategy, SyncContext, run_async, run_sequential, run_threads
from strategies.drivers import Outcome

__all__ = ["BASE_URL", "Link", "Session", "SimLink", "SyncDone", "Traffic", "profile_for"]

#: where strategies send requests for the in-process simulated API
BASE_URL = "http://api.sim"


def profile_for(scenario: Scenario) -> ApiProfile:
    """The API profile the simulated API speaks for the scenario's dialect."""
    dialect = scenario.dialect
    return ApiProfile(pagination=dialect.pagination, page_size=dialect.page_size, since_format=dialect.since_format)


@dataclass(frozen=True)
class Traffic:
    """What one sync's requests left behind, on the server's clock."""

    trace: list[TraceEntry]
    start_t: float
    end_t: float
    peak_in_flight: int
    connections: int
    offset: float = 0.0  # the server's clock minus the session's


class Link(Protocol):
    """How one sync's requests reach a server, and what they left behind."""

    def client(self, fanout: str) -> httpx.Client | httpx.AsyncClient: ...

    def settle(self, start_t: float, end_t: float, stats: DriverStats) -> Traffic: ...


class SimLink:
    """Requests to a simulated server (the API, its fault layer, a replay) through the in-process transport."""

    def __init__(self, server: ServerCore, clock: VirtualClock) -> None:
        self.server = server
        self.clock = clock
        self._transport: SimTransport | AsyncSimTransport | None = None

    def client(self, fanout: str) -> httpx.Client | httpx.AsyncClient:
        if fanout == "async":
            transport = AsyncSimTransport(self.server, self.clock)
            self._transport = transport
            return httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        self._transport = SimTransport(self.server, self.clock)
        return httpx.Client(transport=self._transport, base_url=BASE_URL)

    def settle(self, start_t: float, end_t: float, stats: DriverStats) -> Traffic:
        transport = self._transport
        assert transport is not None, "settle() follows client()"
        return Traffic(transport.trace, start_t, end_t, transport.peak_in_flight, transport.connections)


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


@dataclass(frozen=True)
class SyncDone:
    """One sync: its measured fields, its truth (None without a world) and trace, on the server's clock."""

    index: int
    row: dict[str, Any]
    truth: Truth | None
    trace: list[TraceEntry]
    start_t: float
    end_t: float


def _drive(strategy: Strategy, fanout: str, ctx: SyncContext, client: httpx.Client | httpx.AsyncClient) -> Outcome:
    if isinstance(client, httpx.AsyncClient):
        return run_async(ctx, strategy.sync(ctx), client)  # closes the client
    with client:
        driver = run_threads if fanout == "threads" else run_sequential
        return driver(ctx, strategy.sync(ctx), client)


class Session:
    """The syncs of one world (None: a real API, no ground truth) on one store and clock."""

    def __init__(
        self,
        world: World | None,
        *,
        scenario: Scenario,
        clock: VirtualClock | RealClock,
        store: SqliteStore,
        profile: ApiProfile,
        lookback_s: float,
    ) -> None:
        self.world = world
        self.scenario = scenario
        self.clock = clock
        self.store = store
        self.profile = profile
        self._store_view = _WallStore(store, clock) if isinstance(clock, RealClock) else store
        cutoff = None if world is None else world.cutoff_ms
        if world is not None and cutoff is not None:  # the previous sync stored its start minus the lookback
            for account in world.accounts:
                store.set_bookmark(account, cutoff - int(lookback_s * 1000))
        #: the next sync's window start: the previous successful sync's start (None: everything)
        self.since_t = None if cutoff is None else (cutoff - scenario.start_ms) / 1000
        #: messages owed by earlier syncs and still not stored
        self.carried: frozenset[int] = frozenset()
        #: the server's clock minus the session's (0 on the virtual clock)
        self.offset = 0.0
        self.index = 0

    def bookmarks(self) -> dict[str, int | None]:
        accounts = self.world.accounts if self.world is not None else []
        return {account: self.store.bookmark(account) for account in accounts}

    def wait_until(self, scheduled: float) -> None:
        """Let time pass until a scheduled sync's start on the server's clock (never backwards)."""
        clock = self.clock
        if isinstance(clock, VirtualClock):
            clock.advance_to(max(scheduled, clock.now()))
        else:
            clock.sleep(scheduled - self.offset - clock.now())

    def sync(self, strategy: Strategy, fanout: str, options: Options, link: Link, *, last: bool = False) -> SyncDone:
        """One sync from now: drive the strategy over the link, then judge it against the truth.

        `last`: no sync follows, so what this one still owes is not worked out (it reads the whole store).
        """
        index, clock, store = self.index, self.clock, self.store
        self.index += 1
        client = link.client(fanout)  # before the sync starts: a real client costs ~60 ms to build
        start_t = clock.now()
        store.begin_sync()
        rng = random.Random(f"{self.scenario.seed}:{index}")
        ctx = SyncContext(clock=clock, store=self._store_view, options=options, profile=self.profile, rng=rng)
        outcome = _drive(strategy, fanout, ctx, client)
        traffic = link.settle(start_t, clock.now(), outcome.stats)
        self.offset = traffic.offset
        window = None if strategy.full else self.since_t
        truth = None
        if self.world is not None:
            truth = truth_for(
                self.world, since_t=window, start_t=traffic.start_t, end_t=traffic.end_t, carried=self.carried
            )
        row = measure(
            world=self.world,
            truth=truth,
            trace=traffic.trace,
            store=store,
            stats=outcome.stats,
            start_t=traffic.start_t,
            end_t=traffic.end_t,
            peak_concurrency=traffic.peak_in_flight,
            connections=traffic.connections,
            since_t=window,
            lookback_s=options.lookback_s,
            status="failed" if outcome.error else "ok",
            error=outcome.error,
        )
        if truth is not None and not last:
            self.carried = truth.owed(store.message_versions())
        if outcome.error is None:
            self.since_t = traffic.start_t
        return SyncDone(index, row, truth, traffic.trace, traffic.start_t, traffic.end_t)
