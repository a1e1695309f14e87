"""The simulated API: pure request -> response at a simulated instant. No I/O, no threads.

Transports (in-process httpx, ASGI, replay) feed it requests with the simulated time
at which they reach the server; it applies the activity timeline up to that time,
checks the rate limit, answers the route and says how long the answer takes.
"""

from __future__ import annotations

import base64
import bisect
import heapq
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from bench.api.base import SimRequest, SimResponse
from bench.api.latency import LatencyModel
from bench.api.ratelimit import Decision, build_limiter
from bench.api.signals import throttled, usage_headers
from bench.world.records import Conversation, Message, World

__all__ = ["SimulatedAPI", "format_ts", "http_date", "parse_ts"]


@lru_cache(maxsize=1 << 14)
def _classify(path: str) -> tuple[str, str | None]:
    """Cached: the transport's trace asks again for each request, and a sweep's runs ask the same paths."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] != ["v1", "accounts"]:
        return "unknown", None
    if len(parts) == 2:
        return "accounts", None
    rest = parts[3:]
    names = {
        1: {"reservations": "reservations", "conversations": "conversations"},
        3: {"reservations": "reservation_conversations", "conversations": "messages"},
    }
    return names.get(len(rest), {}).get(rest[0] if rest else "", "unknown"), parts[2]


@lru_cache(maxsize=1 << 14)
def _request_key(path: str, query: tuple[tuple[str, str], ...]) -> str:
    """What the latency model draws a request's jitter by; cached, as the same requests come again."""
    return f"{path}?{sorted(query)}"


class _BadRequest(Exception):
    pass


def _position(cursor: str) -> tuple[float, ...]:
    """The listing position a cursor this API issued holds: base64 of a JSON list of two finite numbers
    (the sort key of the last record read). Anything else is forged or damaged: a 400, never a restart."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, RecursionError):
        raise _BadRequest("cursor is not valid") from None
    if not (
        isinstance(position, list)
        and len(position) == 2
        and all(
            (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and math.isfinite(v))
            for v in position
        )
    ):
        raise _BadRequest("cursor is not valid")
    return tuple(position)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A route's answer: its `result` list already in JSON and how many records it holds, the
    envelope's other fields, and the conversations it shows (listings) or serves messages of."""

    endpoint: str
    result: str
    count: int
    envelope: dict[str, Any] = field(default_factory=dict)
    shown: tuple[int, ...] = ()


def _envelope(result: str, envelope: dict[str, Any]) -> bytes:
    """The body `json.dumps({"status": "success", "result": [...], **envelope})` gives, byte for byte,
    from the result list already encoded."""
    extra = json.dumps(envelope)[1:-1]
    return f'{{"status": "success", "result": {result}{", " if extra else ""}{extra}}}'.encode()


def _message(mid: int, cid: int, sent_ms: int, version: tuple[int, bool] | None, precision: str) -> dict[str, Any]:
    record: dict[str, Any] = {"id": mid, "conversationId": cid, "sentAt": format_ts(sent_ms, precision)}
    if version is None:
        return record | {"body": f"message {mid}"}
    edited_ms, deleted = version
    if deleted:  # a tombstone, as chat APIs keep one, so readers learn it is gone
        return record | {"body": None, "editedAt": format_ts(edited_ms, precision), "deleted": True}
    return record | {"body": f"message {mid}, edited", "editedAt": format_ts(edited_ms, precision)}


def _conversation(cid: int, rid: int | None, created_ms: int, last_ms: int, precision: str) -> dict[str, Any]:
    return {
        "id": cid,
        "reservationId": rid,
        "createdAt": format_ts(created_ms, precision),
        "lastMessageAt": format_ts(last_ms, precision),
    }


def _reservation(rid: int, updated_ms: int, precision: str) -> dict[str, Any]:
    return {"id": rid, "updatedOn": format_ts(updated_ms, precision)}


_RECORDS: dict[str, Callable[..., dict[str, Any]]] = {
    "messages": _message,
    "conversations": _conversation,
    "reservations": _reservation,
}


@lru_cache(maxsize=4096)
def _page_json(kind: str, records: tuple[tuple[Any, ...], ...], precision: str) -> str:
    """A page of records in JSON, cached by everything its records show. A sweep's runs list the same
    pages again and again, and building and encoding them was a tenth of a request's host time; a page,
    not a record, is what is cached, so a world listed only once pays one encoding a page, as before."""
    record = _RECORDS[kind]
    return json.dumps([record(*fields, precision) for fields in records])


def _descending(key: Callable[[int], tuple[int, int]]) -> Callable[[int], tuple[int, int]]:
    """A key that ascends along a list sorted by `key` descending (for bisecting pages)."""

    def descending(item: int) -> tuple[int, int]:
        first, second = key(item)
        return -first, -second

    return descending


@lru_cache(maxsize=1 << 16)
def format_ts(ms: int, precision: str) -> str:
    """The API's `YYYY-MM-DD HH:MM:SS[.fff]` (UTC); cached, as the same records are listed again and
    again, and done in arithmetic below the day, as a million messages each have their own."""
    seconds, milli = divmod(ms, 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{_day(days)} {hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{text}.{milli:03d}" if precision == "ms" else text


@lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return datetime.fromtimestamp(days * 86400, tz=UTC).strftime("%Y-%m-%d")


@lru_cache(maxsize=1024)
def http_date(seconds: int) -> str:
    """The `Date` header for an instant (whole seconds, as the header has); cached, as a sync's
    requests share their seconds."""
    return formatdate(seconds, usegmt=True)


def parse_ts(text: str) -> int:
    """Milliseconds since the epoch from the API's `YYYY-MM-DD HH:MM:SS[.fff]` (UTC)."""
    dt = datetime.fromisoformat(text.replace(" ", "T"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


class _Live:
    """The world as the API sees it at the current simulated time."""

    def __init__(self, world: World) -> None:
        self.world = world
        timeline = self._timeline = world.timeline()
        self._next = self._next_update = self._next_change = 0
        conversations = world.conversations
        self.messages: dict[int, list[Message]] = {
            cid: conversations[cid].messages[: timeline.shown.get(cid, 0)] for cid in conversations
        }
        self.last_ms = dict(timeline.last_ms)
        self.updated_ms = dict(timeline.updated_ms)
        self.versions = dict(timeline.versions)  # message id -> (editedAt ms, deleted), once changed
        self._sorted: dict[tuple[str, str], list[int]] = {}

    def advance(self, t: float) -> None:
        """Apply every event visible by `t` (t >= 0): new messages, reservation updates, edits and deletions."""
        timeline = self._timeline
        end = bisect.bisect_right(timeline.message_t, t, self._next)
        end_update = bisect.bisect_right(timeline.update_t, t, self._next_update)
        end_change = bisect.bisect_right(timeline.change_t, t, self._next_change)
        if (end, end_update, end_change) == (self._next, self._next_update, self._next_change):
            return
        messages, last_ms = self.messages, self.last_ms
        for m in timeline.messages[self._next : end]:
            cid = m.conversation_id
            messages[cid].append(m)
            if m.sent_ms > last_ms.get(cid, -1):
                last_ms[cid] = m.sent_ms
        updated_ms = self.updated_ms
        for _, ms, rid in timeline.updates[self._next_update : end_update]:
            if ms > updated_ms.get(rid, -1):
                updated_ms[rid] = ms
        for _, mid, cid, ms, deleted in timeline.changes[self._next_change : end_change]:
            self.versions[mid] = (ms, deleted)
            last_ms[cid] = max(last_ms[cid], ms)
        self._next, self._next_update, self._next_change = end, end_update, end_change
        self._sorted.clear()

    def conversation_key(self, cid: int) -> tuple[int, int]:
        """Sort key (descending): newest message first, id on ties; an out-of-order record
        (trap `unsorted`) is sorted by its creation instead, so it sits among older ones."""
        if cid in self.world.unsorted_conversations:
            return (self.world.conversations[cid].created_ms, cid)
        return (self.last_ms[cid], cid)

    def reservation_key(self, rid: int) -> tuple[int, int]:
        if rid in self.world.unsorted_reservations:
            return (self.world.reservations[rid].updates[0][1], rid)
        return (self.updated_ms[rid], rid)

    def conversations(self, account: str) -> list[int]:
        """Visible conversations of an account, `lastMessageAt` desc, id desc on ties."""
        key = ("conversations", account)
        if key not in self._sorted:
            ids = [c.id for c in self.world.conversations.values() if c.account == account and c.id in self.last_ms]
            ids.sort(key=self.conversation_key, reverse=True)
            self._sorted[key] = ids
        return self._sorted[key]

    def reservations(self, account: str) -> list[int]:
        """Visible reservations of an account, `updatedOn` desc, id desc on ties."""
        key = ("reservations", account)
        if key not in self._sorted:
            ids = [r.id for r in self.world.reservations.values() if r.account == account and r.id in self.updated_ms]
            ids.sort(key=self.reservation_key, reverse=True)
            self._sorted[key] = ids
        return self._sorted[key]


class SimulatedAPI:
    """Answers the property-management dialect: accounts, reservations, conversations, messages."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.scenario = world.scenario
        self.live = _Live(world)
        self.limiter = build_limiter(self.scenario.rate_limits)
        self._signal = self.scenario.dialect.throttle_signal
        self._accounting_scope = self.scenario.rate_limits[0].scope
        self._by_key = any(limit.scope == "key" for limit in self.scenario.rate_limits)
        self.latency = LatencyModel(self.scenario.latency, self.scenario.seed)
        self._start_s = self.scenario.start_ms / 1000  # a property that parses the start: read it once
        self._precision = self.scenario.dialect.timestamp_precision
        self.admitted: list[tuple[str, float]] = []  # (limiter key, t): the server's own accounting
        self._busy: list[float] = []  # when each request in service finishes (server_concurrency)
        self._by_reservation: dict[int, list[Conversation]] = {}
        for conv in world.conversations.values():
            if conv.reservation_id is not None:
                self._by_reservation.setdefault(conv.reservation_id, []).append(conv)

    # -- helpers ------------------------------------------------------------
    def _headers(self, t: float, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        now_s = self._start_s + t
        return [("content-type", "application/json"), ("date", http_date(int(now_s))), *(extra or [])]

    def _limiter_keys(self, request: SimRequest, account: str | None) -> dict[str, str]:
        """The quota each scope charges this request to; the API key's only when a scope counts by key,
        as looking a header up costs more than the rest of this."""
        keys = {"account": f"account:{account}", "global": "global"}
        if self._by_key:
            keys["key"] = f"key:{request.headers.get('authorization', '')}"
        return keys

    def _int(self, query: dict[str, str], name: str, default: int) -> int:
        raw = query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _BadRequest(f"{name} must be an integer") from None
        if value < 0:
            raise _BadRequest(f"{name} must not be negative")
        return value

    def _page(
        self, items: list[Any], query: dict[str, str], key: Callable[[Any], tuple[Any, ...]], path: str
    ) -> tuple[list[Any], dict[str, Any]]:
        """One page of `items` (already in listing order; `key` ascends along it) in the dialect's style."""
        dialect = self.scenario.dialect
        limit = min(self._int(query, "limit", dialect.page_size), dialect.max_page_size)
        if limit == 0:
            raise _BadRequest("limit must be at least 1")
        short = self.scenario.traps.short_pages and limit > 1
        if dialect.pagination == "offset":
            offset = self._int(query, "offset", 0)
            take = limit - 1 if short and (offset // limit) % 2 == 1 else limit
            return items[offset : offset + take], {"count": len(items), "limit": limit, "offset": offset}
        if dialect.pagination == "keyset":
            start = 0
            if "afterId" in query:
                after = self._int(query, "afterId", 0)
                anchor = next((item for item in items if self._record_id(item) == after), None)
                if anchor is None:
                    raise _BadRequest("afterId names no record of this listing")
                start = bisect.bisect_right(items, key(anchor), key=key)
            take = limit - 1 if short and (start // limit) % 2 == 1 else limit
            return items[start : start + take], {"count": len(items), "limit": limit}
        start = 0
        if "cursor" in query:
            start = bisect.bisect_right(items, _position(query["cursor"]), key=key)
        take = limit - 1 if short and (start // limit) % 2 == 1 else limit
        page = items[start : start + take]
        more = start + take < len(items)
        link = None
        if more:
            cursor = base64.urlsafe_b64encode(json.dumps(list(key(page[-1]))).encode()).decode()
            link = f"{path}?{urlencode({**query, 'cursor': cursor, 'limit': limit})}"
        return page, {"limit": limit, "paging": {"next": link}}

    @staticmethod
    def _record_id(item: Any) -> int:
        return item if isinstance(item, int) else item.id

    # -- records ------------------------------------------------------------
    def _conversations(self, ids: Iterable[int]) -> str:
        convs, last_ms = self.world.conversations, self.live.last_ms
        fields = tuple((c, convs[c].reservation_id, convs[c].created_ms, last_ms[c]) for c in ids)
        return _page_json("conversations", fields, self._precision)

    def _reservations(self, ids: list[int]) -> str:
        fields = tuple((r, self.live.updated_ms[r]) for r in ids)
        return _page_json("reservations", fields, self._precision)

    def _messages(self, page: list[Message]) -> str:
        versions = self.live.versions
        fields = tuple((m.id, m.conversation_id, m.sent_ms, versions.get(m.id)) for m in page)
        return _page_json("messages", fields, self._precision)

    # -- routing ------------------------------------------------------------
    def _route(self, request: SimRequest) -> _Answer:
        """What a GET answers, or raise."""
        parts = [p for p in request.path.split("/") if p]
        if request.method != "GET":
            raise _BadRequest("only GET is supported")
        if parts == ["v1", "accounts"]:
            return _Answer("accounts", json.dumps([{"id": a} for a in self.world.accounts]), len(self.world.accounts))
        if len(parts) < 4 or parts[:2] != ["v1", "accounts"] or parts[2] not in self.world.accounts:
            raise LookupError(request.path)
        account, rest = parts[2], parts[3:]
        live, q = self.live, request.query
        if rest == ["reservations"]:
            page, env = self._page(live.reservations(account), q, _descending(live.reservation_key), request.path)
            return _Answer("reservations", self._reservations(page), len(page), env)
        if rest == ["conversations"]:
            ids = live.conversations(account)
            since, until = self._bound(q, "since"), self._bound(q, "until")
            if since is not None:
                ids = [cid for cid in ids if live.last_ms[cid] >= since]
            if until is not None:
                ids = [cid for cid in ids if live.last_ms[cid] <= until]
            page, env = self._page(ids, q, _descending(live.conversation_key), request.path)
            return _Answer("conversations", self._conversations(page), len(page), env, tuple(page))
        if len(rest) == 3 and rest[0] == "reservations" and rest[2] == "conversations":
            rid = self._id(rest[1])
            res = self.world.reservations.get(rid)
            if res is None or res.account != account or rid not in live.updated_ms:
                raise LookupError(request.path)
            convs = tuple(c.id for c in self._by_reservation.get(rid, []) if c.id in live.last_ms)
            return _Answer("reservation_conversations", self._conversations(convs), len(convs), shown=convs)
        if len(rest) == 3 and rest[0] == "conversations" and rest[2] == "messages":
            cid = self._id(rest[1])
            conv = self.world.conversations.get(cid)
            if conv is None or conv.account != account or cid not in live.last_ms:
                raise LookupError(request.path)
            page, env = self._page(live.messages[cid], q, lambda m: (m.visible_t, m.id), request.path)
            return _Answer("messages", self._messages(page), len(page), env, (cid,))
        raise LookupError(request.path)

    def _bound(self, query: dict[str, str], name: str) -> int | None:
        """A `since`/`until` filter in epoch ms (inclusive), None when absent. A date-only dialect
        takes a day and widens it: `since` from the day's first millisecond, `until` to its last."""
        raw = query.get(name)
        if raw is None:
            return None
        dialect = self.scenario.dialect
        if not dialect.since:
            raise _BadRequest(f"{name} is not supported")
        if dialect.since_format == "date":
            try:
                day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                raise _BadRequest(f"{name} must be a date (YYYY-MM-DD)") from None
            first = int(day.timestamp() * 1000)
            return first if name == "since" else first + 86_400_000 - 1
        try:
            return parse_ts(raw)
        except ValueError:
            raise _BadRequest(f"{name} must be a timestamp") from None

    @staticmethod
    def _id(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise LookupError(text) from None

    @staticmethod
    def classify(path: str) -> tuple[str, str | None]:
        """(endpoint name, account) from the path's shape alone, before any work is done."""
        return _classify(path)

    def handle(self, request: SimRequest, t: float) -> SimResponse:
        """Answer `request` arriving at simulated time `t` (seconds since the scenario start)."""
        self.live.advance(t)
        endpoint, account = self.classify(request.path)
        keys = self._limiter_keys(request, account)
        decision = self.limiter.admit(keys, t)
        if not decision.admitted:
            return self._throttled(decision, t, endpoint)
        self.admitted.append((keys[self._accounting_scope], t))
        usage = usage_headers(decision, self._signal)
        try:
            answer = self._route(request)
        except LookupError:
            return self._error(404, "not found", t, endpoint, usage)
        except _BadRequest as error:
            return self._error(400, str(error), t, endpoint, usage)
        service = self.latency.service_s(
            answer.endpoint, answer.count, _request_key(request.path, tuple(request.query.items()))
        )
        service = self._queued(t, service)
        body = _envelope(answer.result, answer.envelope)
        return SimResponse(200, self._headers(t, usage), body, service, answer.endpoint, conversations=answer.shown)

    def _queued(self, t: float, service: float) -> float:
        """Service time plus the wait for a free server slot, when the server caps its concurrency."""
        cap = self.scenario.latency.server_concurrency
        if cap is None:
            return service
        busy = self._busy
        while busy and busy[0] <= t:
            heapq.heappop(busy)
        start = t if len(busy) < cap else heapq.heappop(busy)
        heapq.heappush(busy, start + service)
        return start - t + service

    def _throttled(self, decision: Decision, t: float, endpoint: str) -> SimResponse:
        """Throttling as the dialect tells it (429 with headers, or a 400/403 with an error code)."""
        status, extra, body = throttled(decision, self._signal, self._start_s + t)
        return SimResponse(status, self._headers(t, extra), body, self.latency.throttled_s(), endpoint, throttled=True)

    def _error(
        self, status: int, message: str, t: float, endpoint: str, extra: list[tuple[str, str]] | None = None
    ) -> SimResponse:
        body = json.dumps({"status": "fail", "message": message}).encode()
        return SimResponse(status, self._headers(t, extra), body, self.latency.throttled_s(), endpoint)
