"""`reservation-early-stop`: the field study's optimized path, with the planned orphan fallback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strategies.base import Strategy
from strategies.context import SyncContext
from strategies.effects import Call, FanOut, SyncGen
from strategies.paging import Page, paginate
from strategies.steps import fetch_messages, store_bookmark, store_conversations


class ReservationEarlyStop(Strategy):
    """Page reservations by `updatedOn` desc and stop at the first older than the bookmark;
    fetch each updated reservation's conversations (one call each, fanned out) and
    their messages. Then the fallback the field study planned for `reservationId`
    null: a catch-up listing of conversations, by `lastMessageAt` desc and stopped
    the same way, whose conversations without a reservation are fetched too.

    Assumes both listings are really sorted (early stop), and that every new message
    bumps its reservation's `updatedOn` (a message that does not is invisible to this
    path). Fetches every conversation of an updated reservation, so a reservation
    updated without a message costs calls for nothing (reported as over-fetch).
    """

    name = "reservation-early-stop"
    summary = "reservations by updatedOn desc with early stop, per-reservation fan-out, orphan catch-up"

    def sync_account(self, ctx: SyncContext, account: str, started_ms: int) -> SyncGen:
        profile = ctx.profile
        cutoff = ctx.store.bookmark(account)

        def older(field: str) -> Callable[[Page], bool]:
            return lambda page: cutoff is not None and any(profile.parse_ts(r[field]) < cutoff for r in page)

        def recent(records: list[dict[str, Any]], field: str) -> dict[int, dict[str, Any]]:
            return {r["id"]: r for r in records if cutoff is None or profile.parse_ts(r[field]) >= cutoff}

        reservations = yield from paginate(
            ctx, profile.reservations.format(account=account), stop_after=older("updatedOn")
        )
        updated = recent(reservations, "updatedOn")
        found: dict[int, dict[str, Any]] = {}
        for conversations in (yield FanOut([self._reservation(ctx, account, rid) for rid in updated])):
            found.update((c["id"], c) for c in conversations)
        catch_up = yield from paginate(
            ctx, profile.conversations.format(account=account), stop_after=older("lastMessageAt")
        )
        missing = {
            cid: c
            for cid, c in recent(catch_up, "lastMessageAt").items()
            if cid not in found and c.get("reservationId") is None
        }
        yield from store_conversations(ctx, account, list(missing.values()))
        yield FanOut([fetch_messages(ctx, account, cid) for cid in missing])
        yield from store_bookmark(ctx, account, started_ms)

    def _reservation(self, ctx: SyncContext, account: str, reservation_id: int) -> SyncGen:
        """One reservation's conversations and their messages."""
        path = ctx.profile.reservation_conversations.format(account=account, reservation=reservation_id)
        response = yield Call("GET", path, {}, "fan-out")
        conversations = ctx.profile.body(response)[ctx.profile.result_field]
        yield from store_conversations(ctx, account, conversations)
        for conversation in conversations:
            yield from fetch_messages(ctx, account, conversation["id"])
        return conversations
