"""Run one strategy on one scenario in one fan-out mode: world -> API -> transport -> driver -> store -> row."""

from __future__ import annotations

import gc
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

import bench
from bench.api.core import SimulatedAPI
from bench.api.faults import FaultyAPI, with_faults
from bench.clock import VirtualClock
from bench.measure.metrics import measure
from bench.scenario.model import Scenario, scenario_hash
from bench.store import SqliteStore
from bench.transport.sim import AsyncSimTransport, SimTransport
from bench.transport.trace import TraceEntry
from bench.world.dataset import generate
from bench.world.records import World
from bench.world.truth import Truth, truth_for
from strategies import (
    FANOUTS,
    ApiProfile,
    Options,
    Strategy,
    SyncContext,
    get_strategy,
    run_async,
    run_sequential,
    run_threads,
)

__all__ = [
    "BASE_URL",
    "MAX_WORKERS",
    "RunSpec",
    "RunResult",
    "SyncDone",
    "SyncState",
    "results_document",
    "run",
    "sync_once",
]

BASE_URL = "http://api.sim"
MAX_WORKERS = 1000
DEFAULT_OPTIONS = Options()


@dataclass(frozen=True)
class RunSpec:
    """What to run: the key of a result row."""

    scenario: Scenario
    strategy: str
    fanout: str = "sequential"
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        if self.fanout not in FANOUTS:
            raise ValueError(f"unknown fan-out {self.fanout!r} (choose from {', '.join(FANOUTS)})")
        for name in ("workers", "account_workers"):
            value = getattr(self.options, name)
            if not 1 <= value <= MAX_WORKERS:
                raise ValueError(f"{name.replace('_', '-')} must be between 1 and {MAX_WORKERS}, not {value}")

    def key(self, sync: int) -> dict[str, Any]:
        opts = asdict(self.options)
        defaults = asdict(DEFAULT_OPTIONS)
        changed = {
            k: v for k, v in sorted(opts.items()) if k not in ("workers", "account_workers") and v != defaults[k]
        }
        return {
            "scenario": self.scenario.name,
            "strategy": self.strategy,
            "fanout": self.fanout,
            "workers": self.options.workers,
            "account_workers": self.options.account_workers,
            "seed": self.scenario.seed,
            "sync": sync,
            "options": changed,
        }


@dataclass
class RunResult:
    rows: list[dict[str, Any]]
    trace: list[TraceEntry]


@dataclass(frozen=True)
class SyncState:
    """What one sync left behind, for checks a row cannot carry (the fault matrix reads the bookmarks)."""

    index: int
    world: World
    api: SimulatedAPI | FaultyAPI
    store: SqliteStore
    truth: Truth
    bookmarks_before: dict[str, int | None]
    row: dict[str, Any]
    end_t: float


@contextmanager
def _collector_skips_older_objects() -> Iterator[None]:
    """Hide the objects alive before the run (the cached world, modules) from the cyclic garbage collector
    while it runs: a run allocates quickly, and every full collection would walk them all again (~40 ms a
    run on pms-1000). They are collectable again afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run(spec: RunSpec, observe: Callable[[SyncState], None] | None = None) -> RunResult:
    """Run the scenario's syncs in order on one world, API, store and virtual clock; one row per sync.

    `observe` is called after each sync, while its store is still open.
    """
    world = generate(spec.scenario)
    with _collector_skips_older_objects():
        return _run(spec, world, observe)


def _run(spec: RunSpec, world: World, observe: Callable[[SyncState], None] | None) -> RunResult:
    strategy = get_strategy(spec.strategy)
    scenario, opts = spec.scenario, spec.options
    api = with_faults(SimulatedAPI(world), scenario.faults)
    clock = VirtualClock()
    store = SqliteStore(cost=scenario.store, write_mode=opts.write_mode, chunk_size=opts.chunk_size)
    if world.cutoff_ms is not None:  # the previous sync stored its start minus the lookback
        for account in world.accounts:
            store.set_bookmark(account, world.cutoff_ms - int(opts.lookback_s * 1000))
    profile = ApiProfile(
        pagination=scenario.dialect.pagination,
        page_size=scenario.dialect.page_size,
        since_format=scenario.dialect.since_format,
    )
    rows: list[dict[str, Any]] = []
    trace: list[TraceEntry] = []
    since_t = None if world.cutoff_ms is None else (world.cutoff_ms - scenario.start_ms) / 1000
    carried: frozenset[int] = frozenset()
    try:
        for index, scheduled in enumerate(scenario.sync_times):
            clock.advance_to(max(scheduled, clock.now()))
            store.begin_sync()
            before = {account: store.bookmark(account) for account in world.accounts} if observe else {}
            done = sync_once(
                world=world,
                api=api,
                clock=clock,
                store=store,
                strategy=strategy,
                fanout=spec.fanout,
                options=opts,
                profile=profile,
                index=index,
                since_t=since_t,
                carried=carried,
                last=index == len(scenario.sync_times) - 1,
            )
            row = spec.key(index) | done.row
            rows.append(row)
            if observe is not None:
                observe(SyncState(index, world, api, store, done.truth, before, row, done.end_t))
            trace.extend(done.trace)
            carried, since_t = done.carried, done.since_t
    finally:
        store.close()  # commits: a store in a file keeps what the syncs wrote, even when a run fails
    return RunResult(rows, trace)


@dataclass(frozen=True)
class SyncDone:
    """One sync's measured fields, its truth and trace, and what the next sync inherits."""

    row: dict[str, Any]
    truth: Truth
    trace: list[TraceEntry]
    end_t: float
    carried: frozenset[int]  # messages owed and still not stored (not worked out after the last sync)
    since_t: float | None  # the next sync's window start: this sync's start, unless it failed


def sync_once(
    *,
    world: World,
    api: SimulatedAPI | FaultyAPI,
    clock: VirtualClock,
    store: SqliteStore,
    strategy: Strategy,
    fanout: str,
    options: Options,
    profile: ApiProfile,
    index: int,
    since_t: float | None,
    carried: frozenset[int],
    last: bool = False,
) -> SyncDone:
    """One sync from the clock's now: drive the strategy over httpx, then judge it against the truth.

    `last`: no sync follows, so what this one still owes is not worked out (it reads the whole store).
    """
    start_t = clock.now()
    rng = random.Random(f"{world.scenario.seed}:{index}")
    ctx = SyncContext(clock=clock, store=store, options=options, profile=profile, rng=rng)
    if fanout == "async":
        transport: SimTransport | AsyncSimTransport = AsyncSimTransport(api, clock)
        outcome = run_async(ctx, strategy.sync(ctx), httpx.AsyncClient(transport=transport, base_url=BASE_URL))
    else:
        transport = SimTransport(api, clock)
        with httpx.Client(transport=transport, base_url=BASE_URL) as client:
            driver = run_threads if fanout == "threads" else run_sequential
            outcome = driver(ctx, strategy.sync(ctx), client)
    end_t = clock.now()
    window = None if strategy.full else since_t
    truth = truth_for(world, since_t=window, start_t=start_t, end_t=end_t, carried=carried)
    row = measure(
        world=world,
        truth=truth,
        trace=transport.trace,
        store=store,
        stats=outcome.stats,
        start_t=start_t,
        end_t=end_t,
        peak_concurrency=transport.peak_in_flight,
        connections=transport.connections,
        since_t=window,
        lookback_s=options.lookback_s,
        status="failed" if outcome.error else "ok",
        error=outcome.error,
    )
    still_owed = frozenset() if last else truth.owed(store.message_versions())
    return SyncDone(row, truth, transport.trace, end_t, still_owed, start_t if outcome.error is None else since_t)


def results_document(rows: list[dict[str, Any]], scenarios: list[Scenario]) -> dict[str, Any]:
    """The `results.json` document: deterministic, with no host figures."""
    return {
        "syncbench": bench.__version__,
        "scenarios": {s.name: scenario_hash(s) for s in sorted(scenarios, key=lambda s: s.name)},
        "results": rows,
    }
