"""The records of an API world: accounts' reservations, conversations and messages, each with the
simulated time at which it becomes visible (negative: before the first sync starts), and the
timeline the API replays them in."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

from bench.scenario.model import Scenario

__all__ = ["Change", "Conversation", "Message", "Reservation", "Timeline", "World"]


class Change(NamedTuple):
    """An edit or the deletion of a message."""

    visible_t: float  # when the API starts showing it
    edited_ms: int  # the `editedAt` the API shows
    deleted: bool
    bumps: bool  # whether it moved its reservation's updatedOn


@dataclass(slots=True)
class Message:
    id: int
    conversation_id: int
    sent_ms: int  # the timestamp the API shows
    visible_t: float  # when the API starts showing it (later than sent_ms for late records)
    bumps: bool = True  # whether it moved its reservation's updatedOn
    changes: list[Change] = field(default_factory=list)  # later edits and the deletion, in time order

    def version_at(self, t: float) -> tuple[int, bool] | None:
        """(editedAt ms, deleted) of the last change visible at `t`; None while it is unchanged."""
        last = None
        for change in self.changes:
            if change.visible_t > t:
                break
            last = (change.edited_ms, change.deleted)
        return last

    def active_in(self, lo: float, hi: float) -> bool:
        """Whether it appeared, or changed, in [lo, hi]."""
        return lo <= self.visible_t <= hi or any(lo <= c.visible_t <= hi for c in self.changes)


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
    cutoff_ms: int | None  # the previous sync's start (the stored bookmark); None: first sync ever
    #: records the server lists out of order (trap `unsorted`), by kind
    unsorted_conversations: frozenset[int] = frozenset()
    unsorted_reservations: frozenset[int] = frozenset()
    _timeline: Timeline | None = None

    def messages(self) -> list[Message]:
        return [m for c in self.conversations.values() for m in c.messages]

    def timeline(self) -> Timeline:
        """What the API shows when the first sync starts, and every later event in the order the API
        applies it; built once per world, as each run's API starts from it."""
        if self._timeline is None:
            self._timeline = _timeline(self)
        return self._timeline


class Timeline(NamedTuple):
    """A world at t = 0 (the first sync's start; the API's clock never runs earlier), and the events
    after it sorted by when they become visible, with their times apart for bisecting."""

    shown: dict[int, int]  # conversation id -> how many of its messages are visible
    last_ms: dict[int, int]  # conversation id -> lastMessageAt, for the visible ones
    updated_ms: dict[int, int]  # reservation id -> updatedOn, for the visible ones
    versions: dict[int, tuple[int, bool]]  # message id -> (editedAt ms, deleted), for the changed ones
    messages: list[Message]
    message_t: list[float]
    updates: list[tuple[float, int, int]]  # (visible_t, updatedOn ms, reservation id)
    update_t: list[float]
    changes: list[tuple[float, int, int, int, bool]]  # (visible_t, message id, conversation id, editedAt ms, deleted)
    change_t: list[float]


def _timeline(world: World) -> Timeline:
    shown: dict[int, int] = {}
    last_ms: dict[int, int] = {}
    later: list[Message] = []
    for conv in world.conversations.values():  # each conversation's messages are in (visible_t, id) order
        count = bisect.bisect_right(conv.messages, 0.0, key=attrgetter("visible_t"))
        if count:
            shown[conv.id] = count
            last_ms[conv.id] = max(m.sent_ms for m in conv.messages[:count])
        later += conv.messages[count:]
    # stable on visible_t alone: ties keep each conversation's own order, and the order of ties
    # across conversations changes nothing the API shows
    later.sort(key=attrgetter("visible_t"))
    updated_ms: dict[int, int] = {}
    updates: list[tuple[float, int, int]] = []
    for res in world.reservations.values():  # each reservation's updates are in time order
        count = bisect.bisect_right(res.updates, (0.0, math.inf))
        if count:
            updated_ms[res.id] = max(ms for _, ms in res.updates[:count])
        updates += ((t, ms, res.id) for t, ms in res.updates[count:])
    updates.sort()
    versions: dict[int, tuple[int, bool]] = {}
    changes: list[tuple[float, int, int, int, bool]] = []
    for conv in world.conversations.values():
        for m in conv.messages:
            for c in m.changes:
                if c.visible_t > 0:
                    changes.append((c.visible_t, m.id, conv.id, c.edited_ms, c.deleted))
                else:
                    versions[m.id] = (c.edited_ms, c.deleted)
                    last_ms[conv.id] = max(last_ms[conv.id], c.edited_ms)
    changes.sort()
    return Timeline(
        shown,
        last_ms,
        updated_ms,
        versions,
        later,
        [m.visible_t for m in later],
        updates,
        [u[0] for u in updates],
        changes,
        [c[0] for c in changes],
    )
