"""Fault injection: a wrapper around the simulated API that misbehaves on purpose, reproducibly.

The core stays pure; `FaultyAPI` sits between a transport and `SimulatedAPI` and,
for the requests a `Faults` model picks, answers with a 429 storm, a 5xx, a hang, a
reset connection, a truncated or malformed body, or bends a listing page (short,
overlapping the previous page, or ignoring the asked page size).

Which request is hit depends only on the scenario seed, the request (method, path,
query) and how often that same request was made before, never on which worker made
it or when, so the same calls fail in every fan-out mode and at any worker count.
Faults that depend on time (the storm, `from_s`/`until_s` windows) read the
simulated clock, which is deterministic too.

The knobs are the scenario's `[faults]` table (bench/scenario/faults.py).
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections import Counter
from dataclasses import replace
from typing import Any

from bench.api.base import SimRequest, SimResponse
from bench.api.core import SimulatedAPI
from bench.scenario.faults import Faults, Hit, Storm

__all__ = ["FaultyAPI", "with_faults"]

#: endpoints that are paged, so page faults apply to them
LISTINGS: tuple[str, ...] = ("reservations", "conversations", "messages")
#: query parameters that move along a listing; the rest name the listing itself
PAGING_PARAMS = frozenset({"limit", "offset", "afterId", "cursor"})


def _request_key(request: SimRequest, *, listing: bool = False) -> str:
    """The request as the fault draws see it; `listing=True` drops the paging parameters."""
    query = sorted((k, v) for k, v in request.query.items() if not (listing and k in PAGING_PARAMS))
    return f"{request.method} {request.path}?{query}"


class FaultyAPI:
    """`SimulatedAPI` with faults: same interface (`scenario`, `classify`, `handle`), misbehaving on purpose.

    `injected` counts the faults it applied, by kind, so a report can say whether a
    fault touched a run at all.
    """

    def __init__(self, api: SimulatedAPI, faults: Faults) -> None:
        self.api = api
        self.faults = faults
        self.seed = api.scenario.seed
        self.injected: Counter[str] = Counter()
        self._repeats: Counter[str] = Counter()
        self._last_page: dict[str, list[Any]] = {}  # listing -> its last page served (keyset, cursor overlap)

    def __getattr__(self, name: str) -> Any:  # world, scenario, limiter, admitted, ... of the core
        if name == "api":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.api, name)

    def classify(self, path: str) -> tuple[str, str | None]:
        return self.api.classify(path)

    # -- deterministic choices ---------------------------------------------------
    def _draw(self, kind: str, key: str) -> float:
        """A uniform number in [0, 1) fixed by the seed, the fault kind and the request."""
        mix = zlib.crc32(f"{kind}|{key}".encode()) ^ (self.seed * 0x9E3779B1)
        return random.Random(mix).random()

    def _hits(self, kind: str, hit: Hit, endpoint: str, key: str, attempt: int, t: float) -> bool:
        if not hit.applies(endpoint, t) or (hit.burst is not None and attempt >= hit.burst):
            return False
        return self._draw(kind, key) < hit.rate

    # -- the request ---------------------------------------------------------------
    def handle(self, request: SimRequest, t: float) -> SimResponse:
        """Answer like the core would, unless a fault picks this request."""
        faults = self.faults
        endpoint, _ = self.classify(request.path)
        key = _request_key(request)
        attempt = self._repeats[key]
        self._repeats[key] = attempt + 1
        storm = faults.storm
        if storm is not None and storm.start_s <= t < storm.start_s + storm.duration_s:
            return self._storm(storm, t, endpoint)
        if self._hits("reset", faults.resets, endpoint, key, attempt, t):
            self.injected["reset"] += 1
            return SimResponse(0, [], b"", self.api.latency.throttled_s(), endpoint, transport_fault="reset")
        if self._hits("5xx", faults.server_errors, endpoint, key, attempt, t):
            return self._server_error(endpoint, key, t)
        listing = endpoint in LISTINGS
        served = self._page_request(request, endpoint, key, attempt, t) if listing else request
        response = self.api.handle(served, t)
        if response.status != 200:
            return response
        if listing:
            response = self._pageSimResponse(request, served, response, endpoint, t)
        if self._hits("timeout", faults.timeouts, endpoint, key, attempt, t):
            self.injected["timeout"] += 1
            return replace(response, service_s=max(response.service_s, faults.timeouts.hang_s))
        if self._hits("truncated", faults.truncated, endpoint, key, attempt, t):
            self.injected["truncated"] += 1
            return replace(response, transport_fault="truncated")
        if self._hits("malformed", faults.malformed, endpoint, key, attempt, t):
            self.injected["malformed"] += 1
            return replace(response, body=response.body[: len(response.body) // 2], conversations=())
        return response

    def _storm(self, storm: Storm, t: float, endpoint: str) -> SimResponse:
        self.injected["storm"] += 1
        extra = [] if storm.retry_after_s is None else [("retry-after", str(storm.retry_after_s))]
        body = json.dumps({"status": "fail", "message": "rate limit exceeded"}).encode()
        return SimResponse(429, self._headers(t, extra), body, self.api.latency.throttled_s(), endpoint, True)

    def _server_error(self, endpoint: str, key: str, t: float) -> SimResponse:
        statuses = self.faults.server_errors.statuses
        status = statuses[min(len(statuses) - 1, int(self._draw("5xx-status", key) * len(statuses)))]
        self.injected[f"http-{status}"] += 1
        body = json.dumps({"status": "fail", "message": f"server error {status}"}).encode()
        return SimResponse(status, self._headers(t), body, self.api.latency.throttled_s(), endpoint)

    def _headers(self, t: float, extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        return self.api._headers(t, extra)

    # -- listing pages -------------------------------------------------------------
    def _page_request(self, request: SimRequest, endpoint: str, key: str, attempt: int, t: float) -> SimRequest:
        """The page the server really serves: its own page size, a short page, a shifted offset."""
        faults, dialect = self.faults, self.api.scenario.dialect
        query = dict(request.query)
        asked = _int(query.get("limit"), dialect.page_size)
        limit = asked
        if faults.page_size is not None and faults.page_size != asked:
            limit = faults.page_size
            self.injected["page-size"] += 1
        if self._hits("short-page", faults.short_pages, endpoint, key, attempt, t) and limit > 1:
            limit = max(1, math.floor(limit * faults.short_pages.keep))
            self.injected["short-page"] += 1
        if limit != asked:
            query["limit"] = str(limit)
        offset = _int(query.get("offset"), 0)
        if dialect.pagination == "offset" and offset > 0 and self._overlaps(request, endpoint, t):
            query["offset"] = str(max(0, offset - faults.duplicates.overlap))
            self.injected["duplicates"] += 1
        return replace(request, query=query) if query != request.query else request

    def _overlaps(self, request: SimRequest, endpoint: str, t: float) -> bool:
        """Whether this listing (whatever the page) repeats records across its pages."""
        hit = self.faults.duplicates
        return hit.applies(endpoint, t) and self._draw("duplicates", _request_key(request, listing=True)) < hit.rate

    def _pageSimResponse(
        self, asked: SimRequest, served: SimRequest, response: SimResponse, endpoint: str, t: float
    ) -> SimResponse:
        """Patch the page's envelope: the grown total of a shifted offset listing, or the
        previous page's last records repeated at the start of a keyset or cursor page."""
        pagination = self.api.scenario.dialect.pagination
        listing = _request_key(asked, listing=True)
        body: dict[str, Any] | None = None
        if served.query.get("offset") != asked.query.get("offset"):
            body = json.loads(response.body)
            if isinstance(body.get("count"), int):
                body["count"] += self.faults.duplicates.overlap
                body["offset"] = _int(asked.query.get("offset"), 0)
        elif pagination != "offset" and self.faults.duplicates.on:
            previous = self._last_page.get(listing)
            continuing = "afterId" in asked.query or "cursor" in asked.query
            original = json.loads(response.body)
            self._last_page[listing] = original.get("result", [])
            if continuing and previous and self._overlaps(asked, endpoint, t):
                overlap = previous[-self.faults.duplicates.overlap :]
                result = original["result"]
                if pagination == "keyset":  # the page starts `overlap` records early (an inclusive afterId)
                    result = result[: max(0, int(original.get("limit", len(result))) - len(overlap))]
                body = {**original, "result": overlap + result}
                self._last_page[listing] = body["result"]  # what the client saw: its last record is the anchor
                self.injected["duplicates"] += 1
        if body is None:
            return response
        return replace(response, body=json.dumps(body).encode())


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default  # the core answers 400 for it


def with_faults(api: SimulatedAPI, faults: Faults) -> SimulatedAPI | FaultyAPI:
    """The API itself when no fault is on (so fault-free runs are untouched), else a `FaultyAPI`."""
    return FaultyAPI(api, faults) if faults.active else api
