"""The API world a scenario describes, generated from its seed (or read from its literal records).

Every record carries the simulated time at which it becomes visible to the API
(negative: before the sync starts), so one list of records is both the initial
dataset and the activity timeline. All randomness comes from `random.Random(seed)`.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache

from bench.scenario.model import Scenario
from bench.world.estimate import check_world
from bench.world.literal import build_world as literal_world
from bench.world.records import Change, Conversation, Message, Reservation, World

__all__ = ["build_world", "generate"]


def _precise(ms: int, precision: str) -> int:
    return ms - ms % 1000 if precision == "s" else ms


class _Builder:
    """Adds records to a world under construction, with ids in creation order."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.traps = scenario.traps
        self.trap_rng = random.Random(f"{scenario.seed}:traps")  # apart, so traps leave other draws alone
        self.bump_after_ms: int | None = None  # messages from then on may skip the updatedOn bump
        self.precision = scenario.dialect.timestamp_precision
        self.reservations: dict[int, Reservation] = {}
        self.conversations: dict[int, Conversation] = {}
        self.start_ms = scenario.start_ms
        self._ids = {kind: itertools.count(1) for kind in ("conversation", "reservation", "message")}

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    def visible(self, ms: int) -> float:
        return (ms - self.start_ms) / 1000

    def conversation(self, account: str, created_ms: int, booked: bool) -> Conversation:
        created_ms = _precise(created_ms, self.precision)
        rid = None
        if booked:
            rid = self.next_id("reservation")
            self.reservations[rid] = Reservation(rid, account, [(self.visible(created_ms), created_ms)])
        conv = Conversation(self.next_id("conversation"), account, rid, created_ms)
        self.conversations[conv.id] = conv
        return conv

    def message(self, conv: Conversation, at_ms: int, *, exact: bool = False) -> None:
        """A message that appears at `at_ms`; late-arrival and clock-skew traps stamp it earlier."""
        if self.precision == "s":
            at_ms -= at_ms % 1000
        visible_t = (at_ms - self.start_ms) / 1000
        sent_ms = at_ms
        if not exact and (self.traps.late_arrival_s or self.traps.clock_skew_s):
            late = self.trap_rng.uniform(0, self.traps.late_arrival_s) + self.traps.clock_skew_s
            sent_ms = _precise(at_ms - int(late * 1000), self.precision)
        bumps = True
        if self.traps.unbumped and self.bump_after_ms is not None and at_ms >= self.bump_after_ms:
            bumps = self.trap_rng.random() >= self.traps.unbumped
        conv.messages.append(Message(self.next_id("message"), conv.id, sent_ms, visible_t, bumps))
        if conv.reservation_id is not None and bumps:
            self.reservations[conv.reservation_id].updates.append((visible_t, sent_ms))

    def change(self, conv: Conversation, msg: Message, at_ms: int, *, deleted: bool) -> None:
        """An edit or a deletion at `at_ms`; like a new message it moves the conversation's
        lastMessageAt and, unless the `unbumped` trap holds it back, the reservation's updatedOn."""
        at_ms = _precise(at_ms, self.precision)
        stamp = at_ms
        if self.traps.late_arrival_s or self.traps.clock_skew_s:
            late = self.trap_rng.uniform(0, self.traps.late_arrival_s) + self.traps.clock_skew_s
            stamp = _precise(at_ms - int(late * 1000), self.precision)
        stamp = max(stamp, msg.sent_ms, msg.changes[-1].edited_ms if msg.changes else 0)
        bumps = not self.traps.unbumped or self.trap_rng.random() >= self.traps.unbumped
        msg.changes.append(Change(self.visible(at_ms), stamp, deleted, bumps))
        if conv.reservation_id is not None and bumps:
            self.reservations[conv.reservation_id].updates.append((self.visible(at_ms), stamp))

    def touch(self, conv: Conversation, ms: int) -> None:
        """Update the conversation's reservation without a message."""
        assert conv.reservation_id is not None, "only a booked conversation has a reservation to touch"
        ms = _precise(ms, self.precision)
        self.reservations[conv.reservation_id].updates.append((self.visible(ms), ms))


def generate(scenario: Scenario) -> World:
    """The scenario's world, built once per process: runs only read it (the API keeps its own
    live state), so a sweep of many runs over one world pays for it once. A world larger than
    the memory limit (bench/world/estimate.py) is refused before anything is built."""
    check_world(scenario)
    return _generate_cached(scenario.model_dump_json())


@lru_cache(maxsize=2)
def _generate_cached(scenario_json: str) -> World:
    return build_world(Scenario.model_validate_json(scenario_json))


def build_world(scenario: Scenario) -> World:
    """Build the world: history, activity since the cutoff, and every sync's activity timeline."""
    if scenario.literal is not None:  # records written out (an imported recording), not generated
        return literal_world(scenario, scenario.literal)
    rng = random.Random(scenario.seed)
    ds, act = scenario.dataset, scenario.activity
    start_ms = scenario.start_ms
    build = _Builder(scenario)
    cutoff_ms = None if act.first_sync else _precise(start_ms - int(act.cutoff_ago_s * 1000), build.precision)
    recent_ms = cutoff_ms if cutoff_ms is not None else start_ms - 86_400_000
    first_ms = start_ms - int(ds.history_days * 86_400_000)
    accounts = [f"acc-{i + 1}" for i in range(ds.accounts)]
    by_account: dict[str, list[Conversation]] = {}
    unsorted: tuple[set[int], set[int]] = (set(), set())

    for account in accounts:
        orphan_slots = set(rng.sample(range(ds.conversations), ds.orphans))
        convs = by_account[account] = []
        for i in range(ds.conversations):
            created = rng.randrange(first_ms, recent_ms - 3_600_000)
            conv = build.conversation(account, created, booked=i not in orphan_slots)
            convs.append(conv)
            for ms in sorted(rng.randrange(created, recent_ms - 1000) for _ in range(rng.randint(*ds.messages))):
                build.message(conv, ms)

        orphans = [c for c in convs if c.reservation_id is None]
        booked = [c for c in convs if c.reservation_id is not None]
        active = rng.sample(orphans, act.active_orphans) + rng.sample(booked, act.active - act.active_orphans)
        build.bump_after_ms = recent_ms
        for conv in active:
            for _ in range(rng.randint(1, 3)):
                build.message(conv, rng.randrange(recent_ms, start_ms - 1000))
        active_ids = {c.id for c in active}
        for conv in rng.sample([c for c in booked if c.id not in active_ids], act.reservation_only):
            build.touch(conv, rng.randrange(recent_ms, start_ms - 1000))
        _edits(build, rng, convs, recent_ms, start_ms - 1000, act.edited, act.deleted)
        _during(build, rng, convs, 0.0, act.during_sync, act.during_sync_window_s)
        _account_traps(build, active, booked, cutoff_ms, unsorted)

    sync_times = scenario.sync_times
    for k, nxt in enumerate(scenario.next_syncs, start=1):
        lo_ms, hi_ms = start_ms + int(sync_times[k - 1] * 1000) + 1000, start_ms + int(sync_times[k] * 1000) - 1000
        for account in accounts:
            convs = by_account[account]
            for _ in range(nxt.new_conversations):
                created = rng.randrange(lo_ms, hi_ms)
                conv = build.conversation(
                    account, created, booked=rng.random() >= ds.orphans / max(1, ds.conversations)
                )
                build.message(conv, created)
                convs.append(conv)
            for conv in rng.sample(convs, min(nxt.new_messages, len(convs))):
                build.message(conv, rng.randrange(lo_ms, hi_ms))
            booked = [c for c in convs if c.reservation_id is not None]
            for conv in rng.sample(booked, min(nxt.reservation_only, len(booked))):
                build.touch(conv, rng.randrange(lo_ms, hi_ms))
            _edits(build, rng, convs, lo_ms, hi_ms, nxt.edited_messages, nxt.deleted_messages)
            _during(build, rng, convs, sync_times[k], nxt.during_sync, nxt.during_sync_window_s)

    for conv in build.conversations.values():
        conv.messages.sort(key=lambda m: (m.visible_t, m.id))
    for res in build.reservations.values():
        res.updates.sort()
    return World(
        scenario,
        accounts,
        build.reservations,
        build.conversations,
        cutoff_ms,
        frozenset(unsorted[0]),
        frozenset(unsorted[1]),
    )


def _account_traps(
    build: _Builder,
    active: list[Conversation],
    booked: list[Conversation],
    cutoff_ms: int | None,
    unsorted: tuple[set[int], set[int]],
) -> None:
    """Cutoff ties and out-of-order records for one account (drawn from the trap stream)."""
    traps, rng = build.traps, build.trap_rng
    if traps.cutoff_ties and cutoff_ms is not None:
        active_ids = {c.id for c in active}
        quiet = [c for c in booked if c.id not in active_ids]
        for conv in rng.sample(quiet, min(traps.cutoff_ties, len(quiet))):
            build.message(conv, cutoff_ms, exact=True)
    if traps.unsorted:
        recent = [c for c in active]
        for conv in rng.sample(recent, min(traps.unsorted, len(recent))):
            unsorted[0].add(conv.id)
        updated = [c.reservation_id for c in active if c.reservation_id is not None]
        for rid in rng.sample(updated, min(traps.unsorted, len(updated))):
            unsorted[1].add(rid)


def _edits(
    build: _Builder, rng: random.Random, convs: list[Conversation], lo_ms: int, hi_ms: int, edited: int, deleted: int
) -> None:
    """Edit `edited` and delete `deleted` distinct messages, visible before `lo_ms`, between then and `hi_ms`."""
    if not (edited or deleted):
        return  # no draws: scenarios without edits keep their worlds
    before = build.visible(lo_ms)
    candidates = [
        (c, m) for c in convs for m in c.messages if m.visible_t < before and not (m.changes and m.changes[-1].deleted)
    ]
    for i, (conv, msg) in enumerate(rng.sample(candidates, min(edited + deleted, len(candidates)))):
        build.change(conv, msg, rng.randrange(lo_ms, hi_ms), deleted=i >= edited)


def _during(
    build: _Builder, rng: random.Random, convs: list[Conversation], at_t: float, count: int, window: tuple[float, float]
) -> None:
    """Messages that arrive while a sync starting at `at_t` is running."""
    for _ in range(count):
        t = at_t + round(rng.uniform(*window), 3)
        build.message(rng.choice(convs), build.scenario.start_ms + int(t * 1000))
