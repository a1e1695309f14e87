"""The `[literal]` table of a scenario: a world's records written out one by one (an imported recording).

A scenario with a `[literal]` table gets its world from these records instead of
`[dataset]` and the generated activity (bench/world/literal.py builds it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["LiteralConversation", "LiteralData", "LiteralMessage", "LiteralReservation", "epoch_ms"]


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
