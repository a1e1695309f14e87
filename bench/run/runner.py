"""Run one strategy on one scenario in one fan-out mode: world -> API -> transport -> driver -> store -> row."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.api.core import SimulatedAPI
from bench.api.faults import FaultyAPI, with_faults
from bench.clock import VirtualClock
from bench.run.session import BASE_URL, Session, SimLink, profile_for
from bench.scenario.model import Scenario
from bench.store import SqliteStore
from bench.transport.trace import TraceEntry
from bench.world.dataset import generate
from bench.world.records import World
from bench.world.truth import Truth
from strategies import FANOUTS, Options, get_strategy

__all__ = [
    "BASE_URL",
    "MAX_WORKERS",
    "RunSpec",
    "RunResult",
    "SyncState",
    "run",
]

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
    session = Session(
        world, scenario=scenario, clock=clock, store=store, profile=profile_for(scenario), lookback_s=opts.lookback_s
    )
    link = SimLink(api, clock)
    rows: list[dict[str, Any]] = []
    trace: list[TraceEntry] = []
    try:
        for index, scheduled in enumerate(scenario.sync_times):
            session.wait_until(scheduled)
            before = session.bookmarks() if observe else {}
            done = session.sync(strategy, spec.fanout, opts, link, last=index == len(scenario.sync_times) - 1)
            row = spec.key(index) | done.row
            rows.append(row)
            if observe is not None:
                assert done.truth is not None
                observe(SyncState(index, world, api, store, done.truth, before, row, done.end_t))
            trace.extend(done.trace)
    finally:
        clock.stop()  # an interrupt can leave workers mid-turn: they end before the store closes under them
        store.close()  # commits: a store in a file keeps what the syncs wrote, even when a run fails
    return RunResult(rows, trace)
