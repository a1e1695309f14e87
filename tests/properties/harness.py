"""Run the real runner on a `Case` and observe what a result row cannot carry.

`observe_case` calls `bench.run.runner.run` with its `observe` hook and keeps, for every
sync: the row, the client's start and end time, the server time of the sync's first
admitted request (the instant its bookmark may not pass), the bookmarks before and
after, what the SQLite store holds (read from the database itself), and the server's
own accounting of admitted requests. The checks below compute from the world and the
store, independently of the row, what a sync should have stored.

`Session` steps syncs one at a time on one world, store and clock, so a stateful test
can change strategy, fan-out, workers and rate limit between syncs; each sync goes
through the runner's own `bench.run.session.Session`, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple
from unittest import mock

from hypothesis import settings

import bench.run.runner
import bench.run.session
import strategies.registry
from bench.api.core import SimulatedAPI
from bench.clock import VirtualClock
from bench.scenario.model import RateLimit, Scenario
from bench.store import SqliteStore
from bench.transport.trace import TraceEntry
from bench.world.dataset import generate
from bench.world.records import Conversation, Message, World
from bench.world.truth import Truth
from strategies import Options, Strategy, get_strategy
from tests.properties.worlds import Case

__all__ = [
    "Observed",
    "Session",
    "SyncView",
    "bookmark_violations",
    "missing_after",
    "observe_case",
    "profile",
    "quiet",
    "registered",
    "reported_mismatches",
    "runner_missing",
    "store_violations",
    "unseen_before_bookmark",
]

PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
#: slack on simulated times rebuilt from rounded row fields (rows round to microseconds)
EPS = 1e-5


def profile(weight: float = 1.0, **overrides: Any) -> settings:
    """The active profile (`ci` unless HYPOTHESIS_PROFILE says otherwise); `weight` scales its
    example count for properties whose examples cost more (timelines of several syncs)."""
    active = settings.get_profile(PROFILE_NAME)
    return settings(active, max_examples=max(1, round(active.max_examples * weight)), **overrides)


# -- test-only strategies ------------------------------------------------------------------


@contextmanager
def registered(*classes: type[Strategy]) -> Iterator[None]:
    """Register test-only strategies next to the built-ins, for this block only."""
    with mock.patch.object(strategies.registry, "BUILTIN", (*strategies.registry.BUILTIN, *classes)):
        yield


#: installed plugins do not change during a test session; scanning them costs ~30 ms a lookup
_entry_points = functools.cache(importlib.metadata.entry_points)


@contextmanager
def _plugins_scanned_once() -> Iterator[None]:
    with mock.patch.object(strategies.registry, "entry_points", _entry_points):
        yield


def is_full(strategy: str) -> bool:
    """Whether the strategy promises a full sync (its truth window has no lower bound)."""
    with _plugins_scanned_once():
        return get_strategy(strategy).full


# -- observing the runner --------------------------------------------------------------


@dataclass(frozen=True)
class SyncView:
    index: int
    row: dict[str, Any]
    start_t: float
    end_t: float
    #: server time of the sync's first admitted request: the accounts call whose `Date` places the bookmark
    server_start_t: float | None
    bookmarks_before: dict[str, int | None]
    bookmarks: dict[str, int | None]
    messages: dict[int, Stored]  # stored message id -> what the store holds of it
    conversations: dict[int, str]  # stored conversation id -> account
    message_rows: int
    conversation_rows: int
    admitted: tuple[tuple[str, float], ...]
    trace: tuple[TraceEntry, ...]
    truth: Truth


@dataclass(frozen=True)
class Observed:
    case: Case
    strategy: str
    full: bool
    world: World
    syncs: list[SyncView]

    @property
    def lookback_ms(self) -> int:
        return int(self.case.options.lookback_s * 1000)

    @property
    def floor_t(self) -> float:
        """Messages visible before this were stored before the first sync (the initial cutoff;
        a message visible exactly at it is owed, as the runner's truth says: ties count)."""
        cutoff = self.world.cutoff_ms
        if self.full or cutoff is None:
            return -math.inf
        return (cutoff - self.world.scenario.start_ms) / 1000

    def describe(self) -> str:
        return f"strategy={self.strategy} {self.case.describe()}"


class Stored(NamedTuple):
    conversation_id: int
    account: str
    updated_ms: int  # the message's last edit the store saw (its sending, if none)
    deleted: bool


def _snapshot(store: SqliteStore) -> tuple[dict[int, Stored], dict[int, str], int, int]:
    db = store.db
    messages = {
        row[0]: Stored(row[1], row[2], row[3], bool(row[4]))
        for row in db.execute("SELECT id, conversation_id, account, updated_at, deleted FROM messages")
    }
    conversations = dict(db.execute("SELECT id, account FROM conversations"))
    message_rows = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    conversation_rows = db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    return messages, conversations, message_rows, conversation_rows


def observe_case(case: Case, strategy: str) -> Observed:
    """Run `case` with `strategy` through `bench.run.runner.run` and observe every sync."""
    states: list[dict[str, Any]] = []
    seen_admitted = 0

    def observe(state: Any) -> None:
        nonlocal seen_admitted
        admitted = list(state.api.admitted)
        messages, conversations, message_rows, conversation_rows = _snapshot(state.store)
        states.append(
            {
                "world": state.world,
                "row": state.row,
                "truth": state.truth,
                "bookmarks_before": dict(state.bookmarks_before),
                "bookmarks": {a: state.store.bookmark(a) for a in state.world.accounts},
                "messages": messages,
                "conversations": conversations,
                "message_rows": message_rows,
                "conversation_rows": conversation_rows,
                "admitted": tuple(admitted[seen_admitted:]),
                "end_t": getattr(state, "end_t", None),
            }
        )
        seen_admitted = len(admitted)

    with _plugins_scanned_once():
        spec = bench.run.runner.RunSpec(case.scenario, strategy, case.fanout, case.options)
        result = bench.run.runner.run(spec, observe)
    assert len(states) == len(result.rows), "the runner's observe hook was not called once per sync"
    syncs: list[SyncView] = []
    offset = 0
    for index, state in enumerate(states):
        row = state["row"]
        trace = tuple(result.trace[offset : offset + row["api_calls"]])
        offset += row["api_calls"]
        start_t = min(e.start for e in trace)
        end_t = state["end_t"] if state["end_t"] is not None else start_t + row["makespan_s"]
        syncs.append(
            SyncView(
                index=index,
                row=row,
                start_t=start_t,
                end_t=end_t,
                server_start_t=state["admitted"][0][1] if state["admitted"] else None,
                bookmarks_before=state["bookmarks_before"],
                bookmarks=state["bookmarks"],
                messages=state["messages"],
                conversations=state["conversations"],
                message_rows=state["message_rows"],
                conversation_rows=state["conversation_rows"],
                admitted=state["admitted"],
                trace=trace,
                truth=state["truth"],
            )
        )
    world = states[0]["world"]
    return Observed(case, strategy, is_full(strategy), world, syncs)


# -- checks: what a sync should have stored, from the world and the store ------------------


def _messages(world: World) -> Iterator[tuple[Conversation, Message]]:
    for conv in world.conversations.values():
        for m in conv.messages:
            yield conv, m


def _events(m: Message) -> list[float]:
    """When the message appeared and when it was edited or deleted."""
    return [m.visible_t, *(c.visible_t for c in m.changes)]


def _held(m: Message, stored: Stored | None, t: float) -> bool:
    """The store holds `m` as the API showed it at `t`, or newer: a deleted message may be
    stored as a tombstone or not at all."""
    edited_ms, deleted = m.sent_ms, False
    for change in m.changes:
        if change.visible_t <= t:
            edited_ms, deleted = change.edited_ms, change.deleted
    if stored is None:
        return deleted
    return stored.updated_ms >= edited_ms and (stored.deleted or not deleted)


def quiet(obs: Observed, sync: SyncView) -> bool:
    """Nothing changed on the server while the sync ran: no message, edit or reservation update."""
    lo, hi = sync.start_t, sync.end_t + EPS
    if any(lo < t <= hi for _, m in _messages(obs.world) for t in _events(m)):
        return False
    return not any(lo < t <= hi for r in obs.world.reservations.values() for t, _ in r.updates)


def missing_after(obs: Observed, sync: SyncView) -> dict[int, set[int]]:
    """Conversations (with their unstored message ids) that became visible after the initial
    cutoff and by the sync's start and are not in the store after it: all a correct sync owes."""
    missing: dict[int, set[int]] = {}
    for conv, m in _messages(obs.world):
        if any(obs.floor_t <= t <= sync.start_t for t in _events(m)) and (
            not _held(m, sync.messages.get(m.id), sync.start_t) or conv.id not in sync.conversations
        ):
            missing.setdefault(conv.id, set()).add(m.id)
    return missing


def runner_missing(obs: Observed, sync: SyncView) -> set[int]:
    """The conversations the row must call missed, by the runner's definition, computed afresh:
    messages new since the last successful sync's start, plus older ones still not stored."""
    since = obs.floor_t
    for earlier in obs.syncs[: sync.index]:
        if earlier.row["status"] == "ok" and not obs.full:
            since = earlier.start_t
    before = obs.syncs[sync.index - 1] if sync.index else None
    missing: set[int] = set()
    for conv, m in _messages(obs.world):
        events = [t for t in _events(m) if obs.floor_t <= t <= sync.start_t]
        if not events:
            continue
        owed = before is not None and not _held(m, before.messages.get(m.id), before.start_t)
        required = max(events) >= since or owed
        if required and (not _held(m, sync.messages.get(m.id), sync.start_t) or conv.id not in sync.conversations):
            missing.add(conv.id)
    return missing


def reported_mismatches(obs: Observed) -> list[str]:
    """Where a row's `missed`, `coverage` or reasons disagree with what the store lacks."""
    problems = []
    for sync in obs.syncs:
        row = sync.row
        reported = {m["id"] for m in row["missed"]}
        actual = runner_missing(obs, sync)
        if reported != actual:
            problems.append(f"sync {sync.index}: row says missed {sorted(reported)}, store lacks {sorted(actual)}")
        if (row["coverage"] < 1) != bool(row["missed"]):
            problems.append(f"sync {sync.index}: coverage {row['coverage']} with missed {row['missed']}")
        if row["conversations_missed"] != len(row["missed"]):
            problems.append(f"sync {sync.index}: conversations_missed {row['conversations_missed']} != {row['missed']}")
        for m in row["missed"]:
            reason = m.get("reason") or ""
            if ":" not in reason or not reason.split(":")[0]:
                problems.append(f"sync {sync.index}: conversation {m['id']} missed with no mechanism: {reason!r}")
    return problems


def bookmark_violations(obs: Observed) -> list[str]:
    """Bookmarks a sync moved past its server start time minus the lookback."""
    problems = []
    start_ms = obs.world.scenario.start_ms
    for sync in obs.syncs:
        for account, value in sync.bookmarks.items():
            if value is None or value == sync.bookmarks_before.get(account):
                continue
            if sync.server_start_t is None:
                problems.append(f"sync {sync.index}: {account} bookmark moved with no request admitted")
                continue
            limit = start_ms + sync.server_start_t * 1000 - obs.lookback_ms
            if value > limit + 1e-6:
                problems.append(
                    f"sync {sync.index}: {account} bookmark {value} is {value - limit:.0f} ms past the server "
                    f"start minus lookback ({limit:.0f})"
                )
    return problems


def unseen_before_bookmark(obs: Observed, sync: SyncView) -> dict[str, list[int]]:
    """Per account, messages visible at or before its bookmark (and after the initial cutoff)
    that the store does not hold after the sync."""
    start_ms = obs.world.scenario.start_ms
    unseen: dict[str, list[int]] = {}
    for conv, m in _messages(obs.world):
        bookmark = sync.bookmarks.get(conv.account)
        if bookmark is None:
            continue
        bookmark_t = (bookmark - start_ms) / 1000
        seen = [t for t in _events(m) if obs.floor_t <= t <= bookmark_t]
        if seen and not _held(m, sync.messages.get(m.id), bookmark_t):
            unseen.setdefault(conv.account, []).append(m.id)
    return unseen


def store_violations(obs: Observed) -> list[str]:
    """Duplicate ids, or stored rows that are not the world's records (wrong conversation or account,
    or a message that was not yet visible when the sync ended)."""
    world = obs.world
    problems = []
    by_id = {m.id: (conv, m) for conv, m in _messages(world)}
    for sync in obs.syncs:
        if sync.message_rows != len(sync.messages) or sync.conversation_rows != len(sync.conversations):
            problems.append(
                f"sync {sync.index}: {sync.message_rows} message rows for {len(sync.messages)} ids, "
                f"{sync.conversation_rows} conversation rows for {len(sync.conversations)} ids"
            )
        for mid, (cid, account, _, _) in sync.messages.items():
            found = by_id.get(mid)
            if found is None or found[0].id != cid or found[0].account != account:
                problems.append(f"sync {sync.index}: stored message {mid} ({cid}, {account}) is not the world's")
            elif found[1].visible_t > sync.end_t + EPS:
                problems.append(f"sync {sync.index}: stored message {mid} before it existed")
        for cid, account in sync.conversations.items():
            conv = world.conversations.get(cid)
            if conv is None or conv.account != account:
                problems.append(f"sync {sync.index}: stored conversation {cid} ({account}) is not the world's")
    return problems


# -- stepping syncs one at a time --------------------------------------------------------


@dataclass
class Step:
    """One sync run by a `Session`: its row and what the server admitted."""

    index: int
    row: dict[str, Any]
    start_t: float
    end_t: float
    admitted: list[tuple[str, float]]
    rate_limit: RateLimit
    bookmarks_before: dict[str, int | None]
    bookmarks: dict[str, int | None]
    strategy: str
    lookback_ms: int


class Session:
    """Syncs of one world on one store and clock, each with its own strategy, fan-out, options and
    rate limit. Mirrors the loop of `bench.run.runner.run`; each sync gets a fresh API on the same
    world (the server replays the timeline to the sync's time), so a sync's rate limit may differ."""

    def __init__(self, scenario: Scenario, lookback_s: float = 0.0) -> None:
        self.scenario = scenario
        self.world = generate(scenario)
        self.clock = VirtualClock()
        self.store = SqliteStore(cost=scenario.store)
        self.lookback_ms = int(lookback_s * 1000)
        self.session = bench.run.session.Session(
            self.world,
            scenario=scenario,
            clock=self.clock,
            store=self.store,
            profile=bench.run.session.profile_for(scenario),
            lookback_s=lookback_s,
        )
        self.slot = 0
        self.steps: list[Step] = []

    @property
    def slots_left(self) -> int:
        return len(self.scenario.sync_times) - self.slot

    def skip(self, slots: int) -> None:
        """Let scheduled syncs pass without running them: their activity piles up."""
        self.slot = min(len(self.scenario.sync_times) - 1, self.slot + slots)

    def sync(self, strategy_name: str, fanout: str, options: Options, rate_limit: RateLimit | None = None) -> Step:
        assert options.lookback_s * 1000 == self.lookback_ms, "one lookback per session"
        with _plugins_scanned_once():
            strategy = get_strategy(strategy_name)
        limit = rate_limit or self.scenario.rate_limits[0]
        world = dataclasses.replace(self.world, scenario=self.scenario.model_copy(update={"rate_limits": (limit,)}))
        api = SimulatedAPI(world)
        self.session.wait_until(self.scenario.sync_times[self.slot])
        self.slot += 1
        before = self.session.bookmarks()
        done = self.session.sync(strategy, fanout, options, bench.run.session.SimLink(api, self.clock))
        step = Step(
            done.index,
            done.row,
            done.start_t,
            done.end_t,
            list(api.admitted),
            limit,
            before,
            self.session.bookmarks(),
            strategy_name,
            self.lookback_ms,
        )
        self.steps.append(step)
        return step

    # -- invariants -------------------------------------------------------------------
    def unstored(self, upto_t: float) -> set[int]:
        """Messages that appeared or changed after the initial cutoff and by `upto_t` that the store
        does not hold as they were at `upto_t` (or newer)."""
        floor = self.since_floor
        stored, _, _, _ = _snapshot(self.store)
        return {
            m.id
            for _, m in _messages(self.world)
            if any(floor <= t <= upto_t for t in _events(m)) and not _held(m, stored.get(m.id), upto_t)
        }

    @property
    def since_floor(self) -> float:
        cutoff = self.world.cutoff_ms
        return -math.inf if cutoff is None else (cutoff - self.scenario.start_ms) / 1000

    def quiet(self, step: Step) -> bool:
        lo, hi = step.start_t, step.end_t
        if any(lo < t <= hi for _, m in _messages(self.world) for t in _events(m)):
            return False
        return not any(lo < t <= hi for r in self.world.reservations.values() for t, _ in r.updates)

    def store_rows(self) -> tuple[int, int, int, int]:
        """(message rows, distinct message ids, conversation rows, distinct conversation ids)."""
        db = self.store.db
        return (
            db.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
            db.execute("SELECT COUNT(DISTINCT id) FROM messages").fetchone()[0],
            db.execute("SELECT COUNT(*) FROM conversations").fetchone()[0],
            db.execute("SELECT COUNT(DISTINCT id) FROM conversations").fetchone()[0],
        )

    def close(self) -> None:
        self.store.close()


def over_limit(admitted: Sequence[tuple[str, float]], rate_limit: RateLimit) -> list[str]:
    """Fixed windows in which the server admitted more requests for one key than its limit."""
    if rate_limit.algorithm == "none":
        return []
    assert rate_limit.algorithm == "fixed-window", "only fixed windows are checked here"
    counts = Counter((key, math.floor(t / rate_limit.window_s)) for key, t in admitted)
    return [
        f"{key} window {w}: {n} > {rate_limit.limit}" for (key, w), n in sorted(counts.items()) if n > rate_limit.limit
    ]
