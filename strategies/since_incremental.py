"""`since-incremental`: the server filters by the per-account bookmark."""

from __future__ import annotations

from typing import Any

from strategies.base import Strategy
from strategies.context import SyncContext
from strategies.effects import FanOut, SyncGen
from strategies.paging import paginate
from strategies.steps import fetch_messages, store_bookmark, store_conversations


class SinceIncremental(Strategy):
    """List conversations with `since=<bookmark>` and fetch their messages.

    The bookmark is the server's time when the previous sync started, minus
    `--lookback`; records seen twice are deduplicated by id. Correct when the
    lookback covers how late records can appear (late writes plus clock skew).
    """

    name = "since-incremental"
    summary = "list conversations since the per-account bookmark (server time minus lookback)"

    def sync_account(self, ctx: SyncContext, account: str, started_ms: int) -> SyncGen:
        profile = ctx.profile
        bookmark = ctx.store.bookmark(account)
        params = {} if bookmark is None else {profile.since_param: profile.format_since(bookmark)}
        seen: dict[int, dict[str, Any]] = {}

        def keep(page: list[dict[str, Any]]) -> SyncGen:
            # a date-only filter returns the bookmark's whole day: skip what is older than the bookmark
            new = [
                c
                for c in page
                if c["id"] not in seen and (bookmark is None or profile.parse_ts(c["lastMessageAt"]) >= bookmark)
            ]
            seen.update((c["id"], c) for c in new)
            yield from store_conversations(ctx, account, new)

        yield from paginate(ctx, profile.conversations.format(account=account), params=params, each=keep)
        yield FanOut([fetch_messages(ctx, account, cid) for cid in seen])
        yield from store_bookmark(ctx, account, started_ms)
