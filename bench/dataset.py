"""The API world a scenario describes, generated from its seed, and the ground truth of a sync.

Every record carries the simulated time at which it becomes visible to the API
(negative: before the sync starts), so one list of records is both the initial
dataset and the activity timeline. All randomness comes from `random.Random(seed)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bench.scenario import Scenario

__all__ = ["Conversation", "Message", "Reservation", "Truth", "World", "generate", "truth_at"]


@dataclass(slots=True)
class Message:
    id: int
    conversation_id: int
    sent_ms: int
    visible_t: float


@dataclass(slots=True)
class Conversation:
    id: int
    account: str
    reservation_id: int | None
    created_ms: int
    messages: list[Message] = field(default_factory=list)


@dataclass(slots=True)
class Reservation:
    id: int
    account: str
    #: (visible_t, updated_ms) of every update, messages included, in time order
    updates: list[tuple[float, int]] = field(default_factory=list)


@dataclass(slots=True)
class World:
    scenario: Scenario
    accounts: list[str]
    reservations: dict[int, Reservation]
    conversations: dict[int, Conversation]
    cutoff_ms: int

    def messages(self) -> list[Message]:
        return [m for c in self.conversations.values() for m in c.messages]


@dataclass(frozen=True, slots=True)
class Truth:
    """What a correct sync starting at `at_t` must store, and what it may fetch for nothing."""

    conversations: dict[int, frozenset[int]]  # conversation id -> required message ids
    #: conversations with nothing new since the cutoff by the end of the sync
    quiet: frozenset[int]

    @property
    def messages(self) -> int:
        return sum(len(ids) for ids in self.conversations.values())


def _precise(ms: int, precision: str) -> int:
    return ms - ms % 1000 if precision == "s" else ms


def generate(scenario: Scenario) -> World:
    """Build the world: history before the cutoff, activity since, and arrivals during the sync."""
    rng = random.Random(scenario.seed)
    ds, act, precision = scenario.dataset, scenario.activity, scenario.dialect.timestamp_precision
    start_ms = scenario.start_ms
    cutoff_ms = _precise(start_ms - int(act.cutoff_ago_s * 1000), precision)
    history_ms = int(ds.history_days * 86_400_000)
    first_ms = start_ms - history_ms

    def visible(ms: int) -> float:
        return (ms - start_ms) / 1000

    accounts = [f"acc-{i + 1}" for i in range(ds.accounts)]
    reservations: dict[int, Reservation] = {}
    conversations: dict[int, Conversation] = {}
    ids = {"conversation": 0, "reservation": 0, "message": 0}

    def next_id(kind: str) -> int:
        ids[kind] += 1
        return ids[kind]

    def add_message(conv: Conversation, sent_ms: int, visible_t: float) -> None:
        sent_ms = _precise(sent_ms, precision)
        conv.messages.append(Message(next_id("message"), conv.id, sent_ms, visible_t))
        if conv.reservation_id is not None:
            reservations[conv.reservation_id].updates.append((visible_t, sent_ms))

    for account in accounts:
        orphan_slots = set(rng.sample(range(ds.conversations), ds.orphans))
        convs: list[Conversation] = []
        for i in range(ds.conversations):
            created = rng.randrange(first_ms, cutoff_ms - 3_600_000)
            rid = None
            if i not in orphan_slots:
                rid = next_id("reservation")
                reservations[rid] = Reservation(rid, account, [(visible(created), _precise(created, precision))])
            conv = Conversation(next_id("conversation"), account, rid, _precise(created, precision))
            conversations[conv.id] = conv
            convs.append(conv)
            count = rng.randint(*ds.messages)
            times = sorted(rng.randrange(created, cutoff_ms - 1000) for _ in range(count))
            for ms in times:
                add_message(conv, ms, visible(ms))

        orphans = [c for c in convs if c.reservation_id is None]
        booked = [c for c in convs if c.reservation_id is not None]
        active = rng.sample(orphans, act.active_orphans) + rng.sample(booked, act.active - act.active_orphans)
        for conv in active:
            for _ in range(rng.randint(1, 3)):
                ms = rng.randrange(cutoff_ms, start_ms - 1000)
                add_message(conv, ms, visible(ms))
        active_ids = {c.id for c in active}
        for conv in rng.sample([c for c in booked if c.id not in active_ids], act.reservation_only):
            ms = _precise(rng.randrange(cutoff_ms, start_ms - 1000), precision)
            reservations[conv.reservation_id].updates.append((visible(ms), ms))  # type: ignore[index]
        lo, hi = act.during_sync_window_s
        for _ in range(act.during_sync):
            t = round(rng.uniform(lo, hi), 3)
            add_message(rng.choice(convs), start_ms + int(t * 1000), t)

    for conv in conversations.values():
        conv.messages.sort(key=lambda m: (m.visible_t, m.id))
    for res in reservations.values():
        res.updates.sort()
    return World(scenario, accounts, reservations, conversations, cutoff_ms)


def truth_at(world: World, at_t: float, end_t: float, cutoff_ms: int | None) -> Truth:
    """Ground truth for a sync from `at_t` to `end_t`: with a cutoff, every conversation
    with a message sent since it and visible at the start; without one (a full sync),
    every conversation and message visible at the start."""
    required: dict[int, frozenset[int]] = {}
    quiet: set[int] = set()
    for conv in world.conversations.values():
        seen = [m for m in conv.messages if m.visible_t <= at_t]
        wanted = seen if cutoff_ms is None else [m for m in seen if m.sent_ms >= cutoff_ms]
        if wanted:
            required[conv.id] = frozenset(m.id for m in wanted)
        elif cutoff_ms is not None and not any(
            m.sent_ms >= cutoff_ms and m.visible_t <= end_t for m in conv.messages
        ):
            quiet.add(conv.id)
    return Truth(required, frozenset(quiet))
