"""The API profile: where the endpoints are and what the fields are called.

The default matches syncbench's simulated property-management API; a user points
the same strategies at their own API by describing it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import httpx

from strategies.effects import SyncFailed

__all__ = ["ApiProfile", "parse_server_date"]


def parse_server_date(response: httpx.Response) -> int | None:
    """The server's clock from a response's `Date` header, in epoch milliseconds."""
    from email.utils import parsedate_to_datetime

    value = response.headers.get("date")
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, kw_only=True)
class ApiProfile:
    accounts: str = "/v1/accounts"
    reservations: str = "/v1/accounts/{account}/reservations"
    conversations: str = "/v1/accounts/{account}/conversations"
    reservation_conversations: str = "/v1/accounts/{account}/reservations/{reservation}/conversations"
    messages: str = "/v1/accounts/{account}/conversations/{conversation}/messages"
    pagination: Literal["offset", "keyset", "cursor"] = "offset"
    page_size: int = 100
    limit_param: str = "limit"
    offset_param: str = "offset"
    after_param: str = "afterId"
    next_field: str = "paging.next"
    since_param: str = "since"
    result_field: str = "result"
    count_field: str = "count"

    def parse_ts(self, text: str) -> int:
        """Epoch milliseconds from the API's `YYYY-MM-DD HH:MM:SS[.fff]` (UTC unless stated)."""
        dt = datetime.fromisoformat(text.replace(" ", "T"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return round(dt.timestamp() * 1000)

    def format_ts(self, ms: int) -> str:
        dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
        return f"{dt.strftime('%Y-%m-%d %H:%M:%S')}.{ms % 1000:03d}"

    def body(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON envelope of a successful response, or SyncFailed naming what is wrong."""
        where = f"{response.request.method} {response.request.url.path}"
        if response.status_code != 200:
            raise SyncFailed(f"{where} answered HTTP {response.status_code}", response)
        try:
            body = response.json()
        except ValueError:
            raise SyncFailed(f"{where} answered malformed JSON", response) from None
        if not isinstance(body, dict) or not isinstance(body.get(self.result_field), list):
            raise SyncFailed(f"{where} answered no `{self.result_field}` list", response)
        return body

    def next_link(self, body: dict[str, Any]) -> str | None:
        """The cursor dialect's link to the next page, or None at the end."""
        value: Any = body
        for part in self.next_field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value if isinstance(value, str) and value else None

    def conversation(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A conversation record in the store's shape."""
        return {
            "id": raw["id"],
            "reservation_id": raw.get("reservationId"),
            "last_message_at": self.parse_ts(raw["lastMessageAt"]),
        }

    def message(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": raw["id"],
            "conversation_id": raw["conversationId"],
            "sent_at": self.parse_ts(raw["sentAt"]),
            "body": raw.get("body", ""),
        }

    def updated_on(self, reservation: dict[str, Any]) -> int:
        return self.parse_ts(reservation["updatedOn"])
