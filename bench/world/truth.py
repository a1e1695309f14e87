"""Ground truth of a sync: what a correct sync must have stored when it ends, judged by version."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.world.records import World

__all__ = ["Truth", "truth_for"]


@dataclass(frozen=True, slots=True)
class Truth:
    """What a correct sync must have stored when it ends, and what it may fetch for nothing."""

    conversations: dict[int, frozenset[int]]  # conversation id -> required message ids
    #: conversations with nothing new in the sync's window by the end of the sync
    quiet: frozenset[int]
    #: required messages edited or deleted by the sync's start: id -> (editedAt ms, deleted)
    versions: dict[int, tuple[int, bool]] = field(default_factory=dict)

    def held(self, stored: dict[int, tuple[int, bool]]) -> set[int]:
        """The required messages the store holds as they were at the sync's start, or newer: present,
        and at least as new as their last edit; a deleted one is held when stored as deleted, or never stored."""
        held = set()
        for ids in self.conversations.values():
            for mid in ids:
                want, have = self.versions.get(mid), stored.get(mid)
                if want is None:
                    ok = have is not None
                elif want[1]:
                    ok = have is None or have[1]
                else:
                    ok = have is not None and have[0] >= want[0]
                if ok:
                    held.add(mid)
        return held

    def owed(self, stored: dict[int, tuple[int, bool]]) -> frozenset[int]:
        """Required messages the store does not hold as required: the next sync owes them."""
        return frozenset(mid for ids in self.conversations.values() for mid in ids) - self.held(stored)

    @property
    def messages(self) -> int:
        return sum(len(ids) for ids in self.conversations.values())


def truth_for(
    world: World, *, since_t: float | None, start_t: float, end_t: float, carried: frozenset[int] = frozenset()
) -> Truth:
    """Ground truth of a sync running from `start_t` to `end_t`.

    Required: every message that became visible from `since_t` (the previous sync's
    start, inclusive: a tie at the bookmark counts; None for a full sync: all of them)
    to `start_t`, plus `carried`, the
    messages earlier syncs should have stored and did not. Quiet: conversations with
    nothing visible in that window by `end_t` (fetching them is over-fetch).
    """
    required: dict[int, frozenset[int]] = {}
    quiet: set[int] = set()
    versions: dict[int, tuple[int, bool]] = {}
    lo = float("-inf") if since_t is None else since_t
    for conv in world.conversations.values():
        wanted = frozenset(
            m.id
            for m in conv.messages
            if (lo <= m.visible_t <= start_t) or m.id in carried or (m.changes and m.active_in(lo, start_t))
        )
        if wanted:
            required[conv.id] = wanted
            for m in conv.messages:
                if m.changes and m.id in wanted and (version := m.version_at(start_t)) is not None:
                    versions[m.id] = version
        elif not any(lo <= m.visible_t <= end_t or (m.changes and m.active_in(lo, end_t)) for m in conv.messages):
            quiet.add(conv.id)
    return Truth(required, frozenset(quiet), versions)
