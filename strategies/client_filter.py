"""`client-filter`: the field study's baseline."""

from __future__ import annotations

from typing import Any

from strategies.base import Strategy
from strategies.context import SyncContext
from strategies.effects import FanOut, SyncGen
from strategies.paging import paginate
from strategies.steps import fetch_messages, store_bookmark, store_conversations


class ClientFilter(Strategy):
    """Page through ALL conversations, keep those with `lastMessageAt >= bookmark`, fetch their messages.

    Costs every listing page on every sync. Offset paging over a list that changes
    while it is read can skip or repeat records; records are deduplicated by id.
    """

    name = "client-filter"
    summary = "page all conversations, filter by lastMessageAt client-side, fetch survivors' messages"

    def sync_account(self, ctx: SyncContext, account: str, started_ms: int) -> SyncGen:
        cutoff = ctx.store.bookmark(account)
        fresh: dict[int, dict[str, Any]] = {}

        def keep(page: list[dict[str, Any]]) -> SyncGen:
            new = [
                c
                for c in page
                if c["id"] not in fresh and (cutoff is None or ctx.profile.parse_ts(c["lastMessageAt"]) >= cutoff)
            ]
            fresh.update((c["id"], c) for c in new)
            yield from store_conversations(ctx, account, new)

        yield from paginate(ctx, ctx.profile.conversations.format(account=account), each=keep)
        yield FanOut([fetch_messages(ctx, account, cid) for cid in fresh])
        yield from store_bookmark(ctx, account, started_ms)
