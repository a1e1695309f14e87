"""The `[literal]` table of a scenario: a world's records written out one by one (an imported recording).

A scenario with a `[literal]` table gets its world from these records instead of
`[dataset]` and the generated activity (bench/world/literal.py builds it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from bench.scenario.bounds import EARLIEST, LATEST, SEED_MAX, Model

__all__ = ["LiteralConversation", "LiteralData", "LiteralMessage", "LiteralReservation", "epoch_ms"]


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch; a timestamp without a zone is UTC, as the API prints them."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= (value if value.tzinfo else value.replace(tzinfo=UTC)) <= LATEST:
        raise ValueError(f"{value.isoformat()} is out of range")
    return value


_DATES = f"a date-time, from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC without a zone)"
#: a timestamp in a sane range (a literal world's records become epoch milliseconds)
Stamp = Annotated[datetime, AfterValidator(_in_range), Field(json_schema_extra={"allowed": _DATES})]
#: a record id
Id = Annotated[int, Field(ge=0, le=SEED_MAX)]
#: records of one kind in a literal world (the world's memory is checked before it is built)
MAX_RECORDS = 10_000_000


class LiteralReservation(Model):
    id: Id
    account: str = Field(min_length=1, max_length=200)
    updatedOn: Stamp


class LiteralConversation(Model):
    id: Id
    account: str = Field(min_length=1, max_length=200)
    reservationId: Id | None = None
    createdAt: Stamp


class LiteralMessage(Model):
    id: Id
    conversationId: Id
    sentAt: Stamp


class LiteralData(Model):
    """The `[literal]` table: records as the API showed them, in our field names."""

    accounts: list[str] = Field(min_length=1, max_length=1000)
    reservations: list[LiteralReservation] = Field([], max_length=MAX_RECORDS)
    conversations: list[LiteralConversation] = Field([], max_length=MAX_RECORDS)
    messages: list[LiteralMessage] = Field([], max_length=MAX_RECORDS)

    @field_validator("accounts")
    @classmethod
    def _distinct_accounts(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or not all(v):
            raise ValueError("account ids must be distinct and non-empty (allowed: distinct, non-empty ids)")
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
