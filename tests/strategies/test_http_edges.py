"""HTTP edge cases, driven through a real httpx client whose transport is respx-mocked routes.

Each case runs `client-filter` for one account (`acc-1`, one conversation with one message)
the way the runner does (`strategy.sync(ctx)` under a driver), in every fan-out mode, on a
VirtualClock (a retry's wait costs simulated time only) and a SqliteStore whose writes cost
nothing, so `clock.now()` after the sync is exactly what the retries waited.

The rule checked: the sync either stores everything and moves the bookmark, or fails
loudly (`Outcome.error`) and leaves the bookmark where it was, so nothing is lost silently.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import httpx
import pytest
import respx

from bench.clock import VirtualClock
from bench.scenario.model import StoreCost
from bench.store import SqliteStore
from strategies import ApiProfile, Options, Outcome, SyncContext, get_strategy, run_async, run_sequential, run_threads

BASE = "http://api.test"
NOW_S = 1_772_442_000  # 2026-03-02 09:00:00 UTC: the server's clock in every response
DATE = formatdate(NOW_S, usegmt=True)
BOOKMARK_MS = (NOW_S - 3600) * 1000  # the previous sync, an hour ago
SEED = 7  # the context's rng: retry jitter is random.Random(SEED).uniform(0, 0.25) for the first retry
LISTING = "/v1/accounts/acc-1/conversations"
MESSAGES = "/v1/accounts/acc-1/conversations/1/messages"


def ok(body: dict[str, Any] | bytes, status: int = 200, **headers: str) -> httpx.Response:
    """A response carrying the server's `Date`, as every response of a real API does."""
    extra = {"date": DATE, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, headers={"content-type": "application/json", **extra})
    return httpx.Response(status, json=body, headers=extra)


CONVERSATION = {
    "id": 1,
    "reservationId": None,
    "createdAt": "2026-02-01 10:00:00",
    "lastMessageAt": "2026-03-02 08:30:00",
}
MESSAGE = {"id": 11, "conversationId": 1, "sentAt": "2026-03-02 08:30:00", "body": "hello"}
LISTED = {"status": "success", "result": [CONVERSATION], "count": 1, "limit": 2, "offset": 0}


@dataclass(frozen=True)
class Edge:
    """How the conversation listing misbehaves, and what the sync must do about it."""

    listing: Callable[[respx.MockRouter], None]
    pagination: str = "offset"
    error: str | None = None  # a substring of Outcome.error; None: the sync must succeed
    retries: int = 0
    waited_s: float = 0.0  # simulated seconds the retry waited, before its jitter
    max_pages: int = 10_000


def listing_answers(*answers: httpx.Response | Exception) -> Callable[[respx.MockRouter], None]:
    def mock(router: respx.MockRouter) -> None:
        router.get(LISTING).mock(side_effect=list(answers))

    return mock


def redirect(status: int) -> Callable[[respx.MockRouter], None]:
    """The listing moved: a redirect to /v2, where the data is."""

    def mock(router: respx.MockRouter) -> None:
        router.get(LISTING).mock(
            return_value=ok({"status": "moved"}, status, location="/v2/accounts/acc-1/conversations")
        )
        router.get("/v2/accounts/acc-1/conversations", name="moved").mock(return_value=ok(LISTED))

    return mock


def cursor_past_an_empty_page(router: respx.MockRouter) -> None:
    first = {"status": "success", "result": [], "paging": {"next": f"{LISTING}?cursor=abc&limit=2"}}
    last = {"status": "success", "result": [CONVERSATION], "paging": {"next": None}}
    router.get(LISTING).mock(side_effect=[ok(first), ok(last)])


CUT = b'{"status": "success", "result": ['  # a complete answer that is not JSON


def always_malformed(router: respx.MockRouter) -> None:
    router.get(LISTING).mock(side_effect=lambda request: ok(CUT))


def cursor_link_repeats(router: respx.MockRouter) -> None:
    """A server whose next link never moves: the second page points back at itself."""
    again = {"status": "success", "result": [CONVERSATION], "paging": {"next": f"{LISTING}?cursor=abc&limit=2"}}
    router.get(LISTING).mock(side_effect=[ok(again)] * 3)


def ignores_the_offset(router: respx.MockRouter) -> None:
    """A cursor API read with offsets: it answers its first page, without a count, whatever the offset."""
    first = {"status": "success", "result": [CONVERSATION], "paging": {"next": f"{LISTING}?cursor=abc&limit=2"}}
    router.get(LISTING).mock(side_effect=[ok(first)] * 6)


EDGES = [
    pytest.param(Edge(listing_answers(ok(CUT), ok(LISTED)), retries=1, waited_s=0.5), id="malformed-json-then-success"),
    pytest.param(Edge(always_malformed, error="gave up after 6 attempts (malformed JSON)"), id="malformed-json-always"),
    pytest.param(
        Edge(cursor_link_repeats, pagination="cursor", error=f"GET {LISTING}: paging would send the same request"),
        id="cursor-link-repeats",
    ),
    pytest.param(
        Edge(ignores_the_offset, max_pages=4, error=f"GET {LISTING}: paging stopped after 4 pages"),
        id="offset-ignored-stops-at-max-pages",
    ),
    pytest.param(
        Edge(listing_answers(ok({"status": "success", "count": 1})), error="no `result` list"), id="missing-result"
    ),
    pytest.param(Edge(cursor_past_an_empty_page, pagination="cursor"), id="empty-page-with-next-link"),
    pytest.param(
        Edge(listing_answers(ok({"status": "fail"}, 503), ok(LISTED)), retries=1, waited_s=0.5), id="5xx-then-success"
    ),
    pytest.param(
        Edge(
            listing_answers(ok({"status": "fail"}, 429, retry_after=formatdate(NOW_S + 7, usegmt=True)), ok(LISTED)),
            retries=1,
            waited_s=7.0,
        ),
        id="retry-after-http-date",
    ),
    pytest.param(
        Edge(
            listing_answers(httpx.RemoteProtocolError("Server disconnected without sending a response."), ok(LISTED)),
            retries=1,
            waited_s=0.5,
        ),
        id="connection-reset",
    ),
    pytest.param(
        Edge(listing_answers(httpx.ReadTimeout("The read operation timed out"), ok(LISTED)), retries=1, waited_s=0.5),
        id="read-timeout",
    ),
    pytest.param(Edge(redirect(301), error="HTTP 301"), id="redirect-301-fails-loudly"),
    pytest.param(Edge(redirect(302), error="HTTP 302"), id="redirect-302-fails-loudly"),
]


def sync(edge: Edge, fanout: str) -> tuple[Outcome, SqliteStore, VirtualClock, respx.MockRouter]:
    router = respx.MockRouter(base_url=BASE, assert_all_called=False)
    router.get("/v1/accounts").mock(return_value=ok({"status": "success", "result": [{"id": "acc-1"}], "count": 1}))
    router.get(MESSAGES).mock(return_value=ok({"status": "success", "result": [MESSAGE], "count": 1}))
    edge.listing(router)
    clock = VirtualClock()
    store = SqliteStore(cost=StoreCost(statement_s=0, row_s=0))
    store.set_bookmark("acc-1", BOOKMARK_MS)
    ctx = SyncContext(
        clock=clock,
        store=store,
        options=Options(workers=3, max_pages=edge.max_pages),
        profile=ApiProfile(pagination=edge.pagination, page_size=2),  # type: ignore[arg-type]
        rng=random.Random(SEED),
    )
    strategy = get_strategy("client-filter")
    if fanout == "async":
        client = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(router.async_handler))
        outcome = run_async(ctx, strategy.sync(ctx), client)
    else:
        driver = run_threads if fanout == "threads" else run_sequential
        with httpx.Client(base_url=BASE, transport=httpx.MockTransport(router.handler)) as client:
            outcome = driver(ctx, strategy.sync(ctx), client)
    return outcome, store, clock, router


@pytest.mark.parametrize("fanout", ["sequential", "threads", "async"])
@pytest.mark.parametrize("edge", EDGES)
def test_http_edge(edge: Edge, fanout: str) -> None:
    """The sync stores everything and moves the bookmark, or fails loudly and keeps it; retries wait what they must."""
    outcome, store, clock, router = sync(edge, fanout)
    if edge.error is not None:
        assert outcome.error is not None and edge.error in outcome.error, outcome.error
        assert store.bookmark("acc-1") == BOOKMARK_MS, "a failed sync must not move the bookmark"
        assert "moved" not in router.routes or not router.routes["moved"].called
        return
    assert outcome.error is None
    assert (store.conversation_ids(), store.message_ids()) == ({1}, {11})
    assert store.bookmark("acc-1") == NOW_S * 1000, "the bookmark is the server's Date at the sync's start"
    assert outcome.stats.retries == edge.retries
    jitter = random.Random(SEED).uniform(0, 0.25) if edge.retries else 0.0
    assert clock.now() == pytest.approx(edge.waited_s + jitter)


def test_an_empty_cursor_page_is_followed_to_its_next_link() -> None:
    """An empty page with a next link is not the end: the client asks for the link's cursor."""
    _, _, _, router = sync(Edge(cursor_past_an_empty_page, pagination="cursor"), "sequential")
    requests = [call.request for call in router.calls if call.request.url.path == LISTING]
    assert [r.url.params.get("cursor") for r in requests] == [None, "abc"]
