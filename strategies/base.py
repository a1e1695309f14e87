"""The strategy protocol: a named generator of effects for one account, run for every account."""

from __future__ import annotations

from typing import ClassVar

from strategies.context import SyncContext
from strategies.effects import Call, FanOut, SyncFailed, SyncGen
from strategies.profile import parse_server_date

__all__ = ["Strategy"]


class Strategy:
    """Subclass and implement `sync_account`; register under the `syncbench.strategies` entry point.

    `full = True` means the strategy promises every conversation and message (a full
    sync); otherwise it promises everything new since the account's bookmark.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    full: ClassVar[bool] = False

    def sync(self, ctx: SyncContext) -> SyncGen:
        """List the accounts, note the server's time, and sync the accounts (fanned out)."""
        response = yield Call("GET", ctx.profile.accounts, {}, "listing")
        body = ctx.profile.body(response)
        started = parse_server_date(response)
        if started is None:
            raise SyncFailed(f"{ctx.profile.accounts} answered no Date header; cannot place a bookmark")
        accounts = [str(a["id"]) for a in body[ctx.profile.result_field]]
        yield FanOut([self.sync_account(ctx, account, started) for account in accounts], level="accounts")

    def sync_account(self, ctx: SyncContext, account: str, started_ms: int) -> SyncGen:
        """Sync one account; `started_ms` is the server's clock when the sync began."""
        raise NotImplementedError
