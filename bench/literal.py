"""A literal dataset: the records of a world written out one by one (an imported recording), not drawn from a seed.

A scenario with a `[literal]` table gets its world from these records instead of
`[dataset]` and the generated activity. Every record was visible before the sync
started unless it is stamped after the scenario's `start`; the bookmark still comes
from `activity.first_sync` / `activity.cutoff_ago_s`, so incremental strategies can be
compared on the same records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from bench.dataset import World
    from bench.scenario import Scenario

__all__ = ["LiteralConversation", "LiteralData", "LiteralMessage", "LiteralReservation", "build_world", "epoch_ms"]


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch; a timestamp without a zone is UTC, as the API prints them."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LiteralReservation(_Record):
    id: int
    account: str = Field(min_length=1)
    updatedOn: datetime


class LiteralConversation(_Record):
    id: int
    account: str = Field(min_length=1)
    reservationId: int | None = None
    createdAt: datetime


class LiteralMessage(_Record):
    id: int
    conversationId: int
    sentAt: datetime


class LiteralData(_Record):
    """The `[literal]` table: records as the API showed them, in our field names."""

    accounts: list[str] = Field(min_length=1)
    reservations: list[LiteralReservation] = []
    conversations: list[LiteralConversation] = []
    messages: list[LiteralMessage] = []

    @field_validator("accounts")
    @classmethod
    def _distinct_accounts(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or not all(v):
            raise ValueError("account ids must be distinct and non-empty")
        return v

    @model_validator(mode="after")
    def _references(self) -> LiteralData:
        """Ids are unique per kind and every reference names a record of the same account."""
        accounts = set(self.accounts)
        reservations: dict[int, str] = {}
        for i, r in enumerate(self.reservations):
            if r.id in reservations:
                raise ValueError(f"reservations.{i}.id: duplicate id {r.id}")
            if r.account not in accounts:
                raise ValueError(f"reservations.{i}.account: {r.account!r} is not in accounts")
            reservations[r.id] = r.account
        conversations: set[int] = set()
        for i, c in enumerate(self.conversations):
            if c.id in conversations:
                raise ValueError(f"conversations.{i}.id: duplicate id {c.id}")
            if c.account not in accounts:
                raise ValueError(f"conversations.{i}.account: {c.account!r} is not in accounts")
            if c.reservationId is not None and reservations.get(c.reservationId) != c.account:
                raise ValueError(f"conversations.{i}.reservationId: no reservation {c.reservationId} in {c.account}")
            conversations.add(c.id)
        messages: set[int] = set()
        for i, m in enumerate(self.messages):
            if m.id in messages:
                raise ValueError(f"messages.{i}.id: duplicate id {m.id}")
            if m.conversationId not in conversations:
                raise ValueError(f"messages.{i}.conversationId: no conversation {m.conversationId}")
            messages.add(m.id)
        return self

    def newest_ms(self) -> int | None:
        """The newest timestamp of any record, or None for an empty dataset."""
        stamps = [epoch_ms(r.updatedOn) for r in self.reservations]
        stamps += [epoch_ms(c.createdAt) for c in self.conversations]
        stamps += [epoch_ms(m.sentAt) for m in self.messages]
        return max(stamps, default=None)


def build_world(scenario: Scenario) -> World:
    """The world of a literal scenario: the same dataclasses the generator builds.

    Each record appears at its own timestamp relative to `start` (a recording's records
    are all older than its `start`). A message bumps its reservation only if the
    reservation's `updatedOn` is not older than the message, as the API showed it.
    """
    from bench.dataset import Conversation, Message, Reservation, World

    data: LiteralData = scenario.literal
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
