"""The API profile: where the endpoints are and what the fields are called.

The default matches syncbench's simulated property-management API; a user points
the same strategies at their own API by describing it here, or in a TOML file
(`load_profile`): flat keys named like the fields below, plus a `[fields]` table
mapping our record field names to the API's (`lastMessageAt = "last_message_at"`).
Records are renamed to our names as they are read, so strategies never see the API's.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Generator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from strategies.effects import SyncFailed
from strategies.retry import decoded

__all__ = ["ENDPOINTS", "ApiProfile", "ProfileError", "load_profile", "parse_server_date"]

#: endpoint name -> the placeholders its path template must hold
ENDPOINTS: dict[str, tuple[str, ...]] = {
    "accounts": (),
    "reservations": ("account",),
    "conversations": ("account",),
    "reservation_conversations": ("account", "reservation"),
    "messages": ("account", "conversation"),
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@functools.lru_cache(maxsize=64)
def _template(template: str) -> re.Pattern[str]:
    """A path template such as `/v1/accounts/{account}/conversations` as a regex with named groups."""
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ...
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts)))


@functools.lru_cache(maxsize=1 << 16)
def _parse_ts(text: str) -> int:
    """Epoch milliseconds of an API timestamp; cached, as every run of a sweep reads the same records again."""
    dt = datetime.fromisoformat(text.replace(" ", "T"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


class ProfileError(ValueError):
    """A profile file that cannot be used; the message is one line naming the file and key."""


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
    #: what the `since` filter takes: a timestamp, or only a day (the client filters the rest)
    since_format: Literal["timestamp", "date"] = "timestamp"
    result_field: str = "result"
    count_field: str = "count"
    #: our record field name -> the API's, for the fields it names differently
    fields: dict[str, str] = field(default_factory=dict, hash=False)
    #: how a token is sent, when one is given: `Authorization: Bearer` or a query parameter
    auth: Literal["bearer", "query"] = "bearer"
    auth_param: str = "access_token"

    def route(self, path: str) -> tuple[str, dict[str, str]] | None:
        """(endpoint, placeholder values) of a request path, or None when no template matches."""
        for endpoint in ENDPOINTS:
            match = _template(getattr(self, endpoint)).fullmatch(path.rstrip("/") or "/")
            if match:
                return endpoint, match.groupdict()
        return None

    def auth_for(self, token: str) -> httpx.Auth:
        """The httpx auth that sends `token` the way this API expects; strategies never see it."""
        return _TokenAuth(token, self.auth, self.auth_param)

    def parse_ts(self, text: str) -> int:
        """Epoch milliseconds from the API's `YYYY-MM-DD HH:MM:SS[.fff]` (UTC unless stated)."""
        return _parse_ts(text)

    def format_ts(self, ms: int) -> str:
        dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
        return f"{dt.strftime('%Y-%m-%d %H:%M:%S')}.{ms % 1000:03d}"

    def format_since(self, ms: int) -> str:
        """A `since` value at or before `ms`: the timestamp, or its day when the API takes days only."""
        if self.since_format == "date":
            return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")
        return self.format_ts(ms)

    def body(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON envelope of a successful response, or SyncFailed naming what is wrong."""
        if response.status_code != 200:
            raise SyncFailed(f"{_where(response)} answered HTTP {response.status_code}", response)
        try:
            body = decoded(response)
        except ValueError:
            raise SyncFailed(f"{_where(response)} answered malformed JSON", response) from None
        if not isinstance(body, dict) or not isinstance(body.get(self.result_field), list):
            raise SyncFailed(f"{_where(response)} answered no `{self.result_field}` list", response)
        if self.fields:
            ours = {theirs: mine for mine, theirs in self.fields.items()}
            renamed = [
                {ours.get(k, k): v for k, v in r.items()} if isinstance(r, dict) else r for r in body[self.result_field]
            ]
            body = {**body, self.result_field: renamed}  # a new envelope: the parsed body is shared
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
        """A message in the store's shape; `updated_at` is its last edit (or its sending) and a
        deleted message is a tombstone, stored as deleted so a later reader knows it is gone."""
        sent = self.parse_ts(raw["sentAt"])
        edited = raw.get("editedAt")
        return {
            "id": raw["id"],
            "conversation_id": raw["conversationId"],
            "sent_at": sent,
            "updated_at": self.parse_ts(edited) if edited else sent,
            "deleted": bool(raw.get("deleted", False)),
            "body": raw.get("body") or "",
        }

    def updated_on(self, reservation: dict[str, Any]) -> int:
        return self.parse_ts(reservation["updatedOn"])


def _where(response: httpx.Response) -> str:
    """The request a failure message names, e.g. `GET /v1/accounts`."""
    return f"{response.request.method} {response.request.url.path}"


class _TokenAuth(httpx.Auth):
    """Adds the token to every request; its repr never shows the token."""

    def __init__(self, token: str, style: str, param: str) -> None:
        self._token, self._style, self._param = token, style, param

    def __repr__(self) -> str:
        return f"<token auth: {self._style}>"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._style == "query":
            request.url = request.url.copy_set_param(self._param, self._token)
        else:
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


_CHOICES = {
    "pagination": ("offset", "keyset", "cursor"),
    "auth": ("bearer", "query"),
    "since_format": ("timestamp", "date"),
}


def load_profile(path: str | Path, base: ApiProfile | None = None) -> ApiProfile:
    """An ApiProfile from a TOML file; keys the file leaves out keep `base`'s values."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{path}: malformed TOML: {error}") from None
    known = {f.name: f for f in fields(ApiProfile)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ProfileError(f"{path}: {key}: unknown key (known: {', '.join(known)})")
        if key == "fields":
            if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
                raise ProfileError(f'{path}: fields: must be a table of field names (ours = "theirs")')
        elif key == "page_size":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ProfileError(f"{path}: page_size: must be a positive integer")
        elif not isinstance(value, str) or not value:
            raise ProfileError(f"{path}: {key}: must be a non-empty string")
        elif key in _CHOICES and value not in _CHOICES[key]:
            raise ProfileError(f"{path}: {key}: must be one of {', '.join(_CHOICES[key])}")
        elif key in ENDPOINTS:
            wanted = set(ENDPOINTS[key])
            if not value.startswith("/") or set(_PLACEHOLDER.findall(value)) != wanted:
                need = ", ".join(f"{{{n}}}" for n in ENDPOINTS[key]) or "no placeholders"
                raise ProfileError(f"{path}: {key}: must be a path starting with / holding {need}")
        values[key] = value
    return replace(base or ApiProfile(), **values)
