"""The store a sync writes into: a real SQLite database with idempotent upserts.

Coverage is computed from what this store holds, never from what a strategy claims.
Each write returns the time its database round trips would take (per statement and
per row, from the scenario), which the driver charges to the clock; the write mode
decides how many statements a batch of rows costs.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from typing import Any, Literal

from bench.scenario.model import StoreCost

__all__ = ["SqliteStore", "WRITE_MODES"]

WRITE_MODES = ("row", "bulk", "chunked")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, reservation_id INTEGER, last_message_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, conversation_id INTEGER NOT NULL,
    sent_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, deleted INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bookmarks (account TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_UPSERT = {
    "conversations": (
        "INSERT INTO conversations (id, account, reservation_id, last_message_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET reservation_id = excluded.reservation_id, "
        "last_message_at = MAX(last_message_at, excluded.last_message_at)",
        lambda account, r: (r["id"], account, r["reservation_id"], r["last_message_at"]),
    ),
    "messages": (
        "INSERT INTO messages (id, account, conversation_id, sent_at, updated_at, deleted, body) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET body = excluded.body, sent_at = excluded.sent_at, "
        "updated_at = excluded.updated_at, deleted = excluded.deleted WHERE excluded.updated_at >= updated_at",
        lambda account, r: (
            r["id"],
            account,
            r["conversation_id"],
            r["sent_at"],
            r.get("updated_at", r["sent_at"]),
            int(r.get("deleted", False)),
            r["body"],
        ),
    ),
    "bookmark": (
        "INSERT INTO bookmarks (account, value) VALUES (?, ?) "
        "ON CONFLICT(account) DO UPDATE SET value = excluded.value",
        lambda account, r: (account, r["value"]),
    ),
}


class SqliteStore:
    """Conversations, messages and per-account bookmarks, in a file or in memory."""

    def __init__(
        self,
        path: str = ":memory:",
        *,
        cost: StoreCost | None = None,
        write_mode: Literal["row", "bulk", "chunked"] = "bulk",
        chunk_size: int = 500,
    ) -> None:
        if write_mode not in WRITE_MODES:
            raise ValueError(f"write mode must be one of {', '.join(WRITE_MODES)}")
        if chunk_size < 1:
            raise ValueError("chunk size must be at least 1")
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(_SCHEMA)
        self.cost = cost or StoreCost()
        self.write_mode = write_mode
        self.chunk_size = chunk_size
        self._lock = threading.Lock()  # never held across a clock wait
        self.statements = 0
        self.begin_sync()

    def begin_sync(self) -> None:
        """Start counting one sync's writes afresh (touched records, duplicates)."""
        self.received: dict[str, set[int]] = {"conversations": set(), "messages": set()}
        self.duplicates = 0

    def statements_for(self, rows: int) -> int:
        if rows == 0:
            return 0
        if self.write_mode == "row":
            return rows
        if self.write_mode == "chunked":
            return math.ceil(rows / self.chunk_size)
        return 1

    def write(self, kind: str, account: str, rows: list[dict[str, Any]]) -> float:
        sql, params = _UPSERT[kind]
        with self._lock:
            if not self.db.in_transaction:  # one transaction until close: a commit per page cost a third of
                self.db.execute("BEGIN")  # the writes' host time, and every reader shares this connection
            self.db.executemany(sql, [params(account, r) for r in rows])
            if kind in self.received:
                seen = self.received[kind]
                for r in rows:
                    if r["id"] in seen:
                        self.duplicates += 1
                    seen.add(r["id"])
        statements = self.statements_for(len(rows))
        self.statements += statements
        return statements * self.cost.statement_s + len(rows) * self.cost.row_s

    def bookmark(self, account: str) -> int | None:
        with self._lock:
            row = self.db.execute("SELECT value FROM bookmarks WHERE account = ?", (account,)).fetchone()
        return None if row is None else int(row[0])

    def set_bookmark(self, account: str, value: int) -> None:
        self.write("bookmark", account, [{"value": value}])

    def message_ids(self) -> set[int]:
        with self._lock:
            return {r[0] for r in self.db.execute("SELECT id FROM messages")}

    def message_versions(self) -> dict[int, tuple[int, bool]]:
        """Every stored message's last edit (epoch ms) and whether it is deleted."""
        with self._lock:
            return {r[0]: (r[1], bool(r[2])) for r in self.db.execute("SELECT id, updated_at, deleted FROM messages")}

    def conversation_ids(self) -> set[int]:
        with self._lock:
            return {r[0] for r in self.db.execute("SELECT id FROM conversations")}

    def close(self) -> None:
        if self.db.in_transaction:
            self.db.execute("COMMIT")
        self.db.close()
