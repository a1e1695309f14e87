"""What a strategy is given: settings, the API profile, and the clock and store it must use.

The clock and store are protocols so strategies never depend on the harness: the
harness passes its virtual clock and SQLite store, a real deployment passes its own.
"""

from __future__ import annotations

import asyncio
import random
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from strategies.profile import ApiProfile

__all__ = ["Clock", "Options", "Store", "SyncContext"]

WriteMode = Literal["row", "bulk", "chunked"]


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...
    def lock(self) -> AbstractContextManager[Any]: ...
    def executor(self, max_workers: int, name: str = ...) -> Any: ...
    def new_event_loop(self) -> asyncio.AbstractEventLoop: ...


class Store(Protocol):
    def bookmark(self, account: str) -> int | None:
        """The account's bookmark in epoch milliseconds, or None before its first sync."""

    def write(self, kind: str, account: str, rows: list[dict[str, Any]]) -> float:
        """Store rows; returns the seconds the database round trips took (charged to the clock)."""


@dataclass(frozen=True, kw_only=True)
class Options:
    """The run settings a strategy honours (docs/design.md, Contracts)."""

    workers: int = 1
    account_workers: int = 1
    page_size: int | None = None  # None: the profile's default
    throttle: float | None = None  # requests per second, client side
    adaptive: bool = False  # adjust concurrency from the answers, starting at `workers`
    max_retries: int = 5
    max_pages: int = 10_000  # of any one listing: a listing that never ends fails instead
    lookback_s: float = 0.0
    write_mode: WriteMode = "bulk"
    chunk_size: int = 500


@dataclass(kw_only=True)
class SyncContext:
    clock: Clock
    store: Store
    options: Options = field(default_factory=Options)
    profile: ApiProfile = field(default_factory=ApiProfile)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    @property
    def page_size(self) -> int:
        return self.options.page_size or self.profile.page_size
