"""Steps shared by strategies: fetch a conversation's messages, store records, move the bookmark."""

from __future__ import annotations

from typing import Any

from strategies.context import SyncContext
from strategies.effects import SyncGen, Write
from strategies.paging import paginate

__all__ = ["fetch_messages", "store_bookmark", "store_conversations"]


def fetch_messages(ctx: SyncContext, account: str, conversation_id: int) -> SyncGen:
    """Every message of one conversation, stored page by page; returns how many."""
    profile = ctx.profile
    path = profile.messages.format(account=account, conversation=conversation_id)

    def store(page: list[dict[str, Any]]) -> SyncGen:
        yield Write("messages", account, [profile.message(m) for m in page])

    messages = yield from paginate(ctx, path, phase="messages", each=store)
    return len(messages)


def store_conversations(ctx: SyncContext, account: str, raw: list[dict[str, Any]]) -> SyncGen:
    if raw:
        yield Write("conversations", account, [ctx.profile.conversation(c) for c in raw])


def store_bookmark(ctx: SyncContext, account: str, server_start_ms: int) -> SyncGen:
    """Advance the bookmark to the sync's start on the server, minus the lookback overlap.

    Called only after everything the sync found is stored, so a failed sync leaves
    the bookmark where it was and the next sync retries the same window.
    """
    value = server_start_ms - int(ctx.options.lookback_s * 1000)
    yield Write("bookmark", account, [{"value": value}])
