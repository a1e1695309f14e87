"""What a strategy asks for. A strategy is a generator of effects; a driver carries them out.

Writing strategies as generators keeps WHAT to fetch apart from HOW the calls run:
the same strategy runs sequentially, on a thread pool or on asyncio, against a
simulated API or a real one, and the driver sees which calls are independent.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

__all__ = ["Call", "Effect", "FanOut", "SyncFailed", "SyncGen", "Write"]


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request. The driver sends it (throttled, retried) and returns the `httpx.Response`."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    phase: str = "listing"


@dataclass(frozen=True, slots=True)
class FanOut:
    """Independent sub-syncs the driver may run at once; returns their results in order.

    `level="items"` runs on `--workers`, `level="accounts"` on `--account-workers`.
    """

    tasks: list[SyncGen]
    level: Literal["items", "accounts"] = "items"


@dataclass(frozen=True, slots=True)
class Write:
    """Rows for the store: `conversations`, `messages`, or `bookmark` (one row: {"value": ms})."""

    kind: Literal["conversations", "messages", "bookmark"]
    account: str
    rows: list[dict[str, Any]]


Effect = Call | FanOut | Write
SyncGen = Generator[Effect, Any, Any]


class SyncFailed(RuntimeError):
    """The sync cannot finish correctly; the message says why (it becomes the row's `error`)."""

    def __init__(self, reason: str, response: httpx.Response | None = None) -> None:
        super().__init__(reason)
        self.response = response
