"""Deliberately broken strategies, registered for tests only (never shipped, never an entry point).

Each is a built-in strategy with one classic sync bug planted in it; test_planted_bugs.py
shows hypothesis finds a world where it misses a conversation and shrinks that world to
a handful of records, while the correct strategy next to it misses nothing on it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strategies import Strategy, SyncContext, Write
from strategies.effects import FanOut, SyncGen
from strategies.paging import paginate
from strategies.steps import store_conversations

__all__ = [
    "ClientClockBookmark",
    "EarlyStopOnCreatedAt",
    "NewestSeenBookmark",
    "StrictCutoff",
    "Unplanted",
    "client_clock",
]


def _fetch_messages(ctx: SyncContext, account: str, conversation_id: int, newest: list[int]) -> SyncGen:
    """Every message of one conversation, stored page by page; the newest `sentAt` goes to `newest`."""
    profile = ctx.profile
    path = profile.messages.format(account=account, conversation=conversation_id)

    def store(page: list[dict[str, Any]]) -> SyncGen:
        rows = [profile.message(m) for m in page]
        newest.extend(r["sent_at"] for r in rows)
        yield Write("messages", account, rows)

    yield from paginate(ctx, path, phase="messages", each=store)


class _Listing(Strategy):
    """client-filter's shape: page conversations, keep the fresh ones, fetch their messages."""

    def keep(self, ctx: SyncContext, conversation: dict[str, Any], cutoff: int | None) -> bool:
        return cutoff is None or ctx.profile.parse_ts(conversation["lastMessageAt"]) >= cutoff

    def stop_after(self, ctx: SyncContext, cutoff: int | None):  # noqa: ANN201 - a paging predicate or None
        return None

    def bookmark(self, ctx: SyncContext, started_ms: int, newest: list[int], cutoff: int | None) -> int:
        return started_ms - int(ctx.options.lookback_s * 1000)

    def sync_account(self, ctx: SyncContext, account: str, started_ms: int) -> SyncGen:
        cutoff = ctx.store.bookmark(account)
        fresh: dict[int, dict[str, Any]] = {}

        def keep(page: list[dict[str, Any]]) -> SyncGen:
            new = [c for c in page if c["id"] not in fresh and self.keep(ctx, c, cutoff)]
            fresh.update((c["id"], c) for c in new)
            yield from store_conversations(ctx, account, new)

        path = ctx.profile.conversations.format(account=account)
        yield from paginate(ctx, path, each=keep, stop_after=self.stop_after(ctx, cutoff))
        newest: list[int] = []
        yield FanOut([_fetch_messages(ctx, account, cid, newest) for cid in fresh])
        yield Write("bookmark", account, [{"value": self.bookmark(ctx, started_ms, newest, cutoff)}])


class Unplanted(_Listing):
    """The shape every planted strategy shares, with nothing planted: client-filter's logic, written again."""

    name = "planted-nothing"


class StrictCutoff(_Listing):
    """PLANTED: keeps conversations with lastMessageAt > bookmark (strict), so a tie at the bookmark is lost."""

    name = "planted-strict-cutoff"

    def keep(self, ctx: SyncContext, conversation: dict[str, Any], cutoff: int | None) -> bool:
        return cutoff is None or ctx.profile.parse_ts(conversation["lastMessageAt"]) > cutoff


class EarlyStopOnCreatedAt(_Listing):
    """PLANTED: stops paging at the first page holding a conversation created before the bookmark, as if
    the listing were sorted by createdAt; it is sorted by lastMessageAt, so later pages hold fresh ones."""

    name = "planted-early-stop-created-at"

    def stop_after(self, ctx: SyncContext, cutoff: int | None):  # noqa: ANN201
        if cutoff is None:
            return None
        return lambda page: any(ctx.profile.parse_ts(c["createdAt"]) < cutoff for c in page)


class NewestSeenBookmark(_Listing):
    """PLANTED: the bookmark is the newest message stored (minus the lookback) instead of the server's
    start time, so a message that arrives after its conversation was read, stamped before a newer
    message fetched later in the same sync, falls behind the bookmark for good."""

    name = "planted-newest-seen-bookmark"

    def bookmark(self, ctx: SyncContext, started_ms: int, newest: list[int], cutoff: int | None) -> int:
        if not newest:
            return cutoff if cutoff is not None else started_ms
        return max(newest) - int(ctx.options.lookback_s * 1000)


class ClientClockBookmark(_Listing):
    """PLANTED: the bookmark is the client's clock at the sync's start (minus the lookback) instead of the
    server's `Date`; the client clock runs `skew_s` ahead of the server, so data that arrives in the first
    `skew_s` seconds of a sync, after its conversation was read, falls behind the bookmark."""

    name = "planted-client-clock-bookmark"
    epoch_s: ClassVar[float] = 0.0  # the client's wall clock when the harness's virtual clock reads 0
    skew_s: ClassVar[float] = 0.0

    def sync(self, ctx: SyncContext) -> SyncGen:
        self._client_start_ms = int((self.epoch_s + ctx.clock.now() + self.skew_s) * 1000)
        return (yield from super().sync(ctx))

    def bookmark(self, ctx: SyncContext, started_ms: int, newest: list[int], cutoff: int | None) -> int:
        return self._client_start_ms - int(ctx.options.lookback_s * 1000)


def client_clock(epoch_s: float, skew_s: float) -> type[ClientClockBookmark]:
    """ClientClockBookmark for one world: the virtual clock's zero is `epoch_s`; the client runs `skew_s` ahead."""
    return type("ClientClockBookmarkAt", (ClientClockBookmark,), {"epoch_s": epoch_s, "skew_s": skew_s})
