"""`full-pagination`: the full-sync path."""

from __future__ import annotations

from typing import Any

from strategies.base import Strategy
from strategies.context import SyncContext
from strategies.effects import FanOut, SyncGen
from strategies.paging import paginate
from strategies.steps import fetch_messages, store_bookmark, store_conversations


class FullPagination(Strategy):
    """Every conversation and every message, whatever the bookmark: correct and slow.

    Kept for first syncs and repairs; it ignores the bookmark but still sets it.
    """

    name = "full-pagination"
    summary = "page all conversations and fetch every message (a full sync)"
    full = True

    def sync_account(self, ctx: SyncContext, account: str, started_ms: int) -> SyncGen:
        seen: dict[int, dict[str, Any]] = {}

        def keep(page: list[dict[str, Any]]) -> SyncGen:
            new = [c for c in page if c["id"] not in seen]
            seen.update((c["id"], c) for c in new)
            yield from store_conversations(ctx, account, new)

        yield from paginate(ctx, ctx.profile.conversations.format(account=account), each=keep)
        yield FanOut([fetch_messages(ctx, account, cid) for cid in seen])
        yield from store_bookmark(ctx, account, started_ms)
