"""A literal dataset: the records of a world written out one by one (an imported recording), not drawn from a seed.

A scenario with a `[literal]` table gets its world from these records instead of
`[dataset]` and the generated activity. Every record was visible before the sync
started unless it is stamped after the scenario's `start`; the bookmark still comes
from `activity.first_sync` / `activity.cutoff_ago_s`, so incremental strategies can be
compared on the same records.
"""

from __future__ import annotations

from datetime import datetime

from bench.scenario.literal import LiteralData, epoch_ms
from bench.scenario.model import Scenario
from bench.world.records import Conversation, Message, Reservation, World

__all__ = ["build_world"]


def build_world(scenario: Scenario, data: LiteralData) -> World:
    """The world of `scenario`'s literal records `data`: the same dataclasses the generator builds.

    Each record appears at its own timestamp relative to `start` (a recording's records
    are all older than its `start`). A message bumps its reservation only if the
    reservation's `updatedOn` is not older than the message, as the API showed it.
    """
    start_ms = scenario.start_ms
    precision = scenario.dialect.timestamp_precision

    def stamp(value: datetime) -> int:
        ms = epoch_ms(value)
        return ms - ms % 1000 if precision == "s" else ms

    def visible(ms: int) -> float:
        return (ms - start_ms) / 1000

    reservations = {
        r.id: Reservation(r.id, r.account, [(visible(stamp(r.updatedOn)), stamp(r.updatedOn))])
        for r in data.reservations
    }
    conversations = {
        c.id: Conversation(c.id, c.account, c.reservationId, stamp(c.createdAt)) for c in data.conversations
    }
    for m in data.messages:
        conv = conversations[m.conversationId]
        sent = stamp(m.sentAt)
        res = reservations.get(conv.reservation_id) if conv.reservation_id is not None else None
        bumps = res is not None and res.updates[-1][1] >= sent
        conv.messages.append(
            Message(id=m.id, conversation_id=conv.id, sent_ms=sent, visible_t=visible(sent), bumps=bumps)
        )
    for conv in conversations.values():
        conv.messages.sort(key=lambda msg: (msg.visible_t, msg.id))
    act = scenario.activity
    cutoff_ms = None if act.first_sync else start_ms - int(act.cutoff_ago_s * 1000)
    if cutoff_ms is not None and precision == "s":
        cutoff_ms -= cutoff_ms % 1000
    return World(scenario, list(data.accounts), reservations, conversations, cutoff_ms)
