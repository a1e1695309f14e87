"""SimulatedAPI: offset/limit pagination, sort orders, the `since` filter, the activity timeline, 429s."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bench.api.core import SimulatedAPI, parse_ts
from bench.clock import VirtualClock
from bench.scenario.model import Scenario
from bench.store import SqliteStore
from bench.transport.sim import SimTransport
from bench.world.dataset import build_world
from bench.world.records import World
from strategies import ApiProfile, Options, SyncContext, run_sequential
from strategies.paging import paginate

CONVERSATIONS = "/v1/accounts/acc-1/conversations"
RESERVATIONS = "/v1/accounts/acc-1/reservations"


def listing(get: Callable[..., Any], path: str, t: float = 0.0) -> list[dict[str, Any]]:
    """Every record of a listing, read page by page at offsets 0, 10, 20, ..."""
    records: list[dict[str, Any]] = []
    while True:
        status, _, body = get(path, t, offset=len(records), limit=10)
        assert status == 200
        if not body["result"]:
            return records
        records.extend(body["result"])


def paginate_through_api(world: World, path: str, page_size: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Run strategies.paging.paginate against the simulated API; returns the records and the queries sent."""
    transport = SimTransport(SimulatedAPI(world), VirtualClock())
    ctx = SyncContext(
        clock=transport.clock, store=SqliteStore(), options=Options(), profile=ApiProfile(page_size=page_size)
    )
    with httpx.Client(transport=transport, base_url="http://api.sim") as client:
        outcome = run_sequential(ctx, paginate(ctx, path), client)
    assert outcome.error is None, outcome.error
    return outcome.value, [e.path for e in transport.trace]


# -- pagination ----------------------------------------------------------------


def test_envelope_carries_count_limit_and_offset(make_world: Callable[..., World], api_for: Callable) -> None:
    """A listing page is {status, result, count, limit, offset} with count = the whole listing's size."""
    get = api_for(make_world(dataset={"conversations": 23}))
    status, headers, body = get(CONVERSATIONS, offset=10, limit=10)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body["status"] == "success"
    assert (body["count"], body["limit"], body["offset"], len(body["result"])) == (23, 10, 10, 10)


def test_short_last_page_then_empty_page(make_world: Callable[..., World], api_for: Callable) -> None:
    """23 records in pages of 10: 10, 10, 3, and the page at offset 23 is empty with the same count."""
    get = api_for(make_world(dataset={"conversations": 23}))
    sizes = [len(get(CONVERSATIONS, offset=offset, limit=10)[2]["result"]) for offset in (0, 10, 20, 23, 40)]
    assert sizes == [10, 10, 3, 0, 0]
    _, _, past_end = get(CONVERSATIONS, offset=23, limit=10)
    assert past_end["status"] == "success" and past_end["count"] == 23


def test_pages_partition_the_listing(make_world: Callable[..., World], api_for: Callable) -> None:
    """Consecutive pages neither repeat nor skip a record of a listing that is not changing."""
    get = api_for(make_world(dataset={"conversations": 23}))
    ids = [c["id"] for c in listing(get, CONVERSATIONS)]
    assert len(ids) == len(set(ids)) == 23


def test_exact_multiple_ends_with_count_equal_to_offset(make_world: Callable[..., World], api_for: Callable) -> None:
    """30 records in pages of 10: the last full page is at offset 20, and offset 30 equals count."""
    get = api_for(make_world(dataset={"conversations": 30}))
    _, _, last = get(CONVERSATIONS, offset=20, limit=10)
    assert len(last["result"]) == 10 and last["offset"] + len(last["result"]) == last["count"] == 30
    _, _, after = get(CONVERSATIONS, offset=30, limit=10)
    assert after["result"] == [] and after["count"] == after["offset"] == 30


def test_paginate_makes_no_extra_call_on_an_exact_multiple(make_world: Callable[..., World]) -> None:
    """paginate() over 30 records in pages of 10 makes exactly 3 calls and gets all 30 records."""
    records, paths = paginate_through_api(make_world(dataset={"conversations": 30}), CONVERSATIONS, 10)
    assert len(paths) == 3
    assert len({r["id"] for r in records}) == 30


def test_paginate_reads_a_short_last_page_and_stops(make_world: Callable[..., World]) -> None:
    """paginate() over 23 records in pages of 10 makes 3 calls: the short page reaches the count."""
    records, paths = paginate_through_api(make_world(dataset={"conversations": 23}), CONVERSATIONS, 10)
    assert len(paths) == 3
    assert len({r["id"] for r in records}) == 23


def test_limit_above_max_page_size_is_clamped(make_world: Callable[..., World], api_for: Callable) -> None:
    """Asking for 500 records when max_page_size is 10 returns 10 and says limit=10."""
    get = api_for(make_world(dataset={"conversations": 25}))
    status, _, body = get(CONVERSATIONS, limit=500)
    assert status == 200
    assert body["limit"] == 10 and len(body["result"]) == 10


def test_default_limit_is_the_dialect_page_size(make_world: Callable[..., World], api_for: Callable) -> None:
    """Without a limit the page holds the dialect's page_size records."""
    get = api_for(make_world(dataset={"conversations": 25}, dialect={"page_size": 4, "max_page_size": 10}))
    _, _, body = get(CONVERSATIONS)
    assert body["limit"] == 4 and len(body["result"]) == 4


@pytest.mark.parametrize(
    "query", [{"limit": "ten"}, {"limit": "-1"}, {"limit": "2.5"}, {"offset": "x"}, {"offset": "-3"}]
)
def test_bad_paging_parameter_is_a_400(
    make_world: Callable[..., World], api_for: Callable, query: dict[str, str]
) -> None:
    """A non-integer or negative limit/offset is answered 400 with a fail envelope naming it."""
    get = api_for(make_world())
    status, _, body = get(CONVERSATIONS, **query)
    assert status == 400
    assert body["status"] == "fail"
    assert next(iter(query)) in body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/nothing",
        "/v1/accounts/acc-99/conversations",
        "/v1/accounts/acc-1/bogus",
        "/v1/accounts/acc-1/conversations/999999/messages",
        "/v1/accounts/acc-1/conversations/abc/messages",
        "/v1/accounts/acc-1/reservations/999999/conversations",
    ],
)
def test_unknown_path_is_a_404(make_world: Callable[..., World], api_for: Callable, path: str) -> None:
    """A path that names no route or no record is answered 404 with a fail envelope."""
    get = api_for(make_world())
    status, _, body = get(path)
    assert status == 404
    assert body["status"] == "fail"


# -- sort orders ---------------------------------------------------------------


def test_conversations_sorted_by_last_message_desc_then_id_desc(
    make_world: Callable[..., World], api_for: Callable
) -> None:
    """The conversation listing is lastMessageAt descending, id descending among equal times."""
    world = make_world(dataset={"conversations": 30})
    by_last = sorted(world.conversations.values(), key=lambda c: max(m.sent_ms for m in c.messages))
    tie_ms = max(m.sent_ms for m in by_last[15].messages)
    for conv in (by_last[3], by_last[8], by_last[11]):  # give three older conversations the same last message time
        for m in conv.messages:
            m.sent_ms = min(m.sent_ms, tie_ms)
        conv.messages[-1].sent_ms = tie_ms
    records = listing(api_for(world), CONVERSATIONS)
    keys = [(parse_ts(r["lastMessageAt"]), r["id"]) for r in records]
    assert sum(ms == tie_ms for ms, _ in keys) >= 4  # the tie really is there
    assert keys == sorted(keys, reverse=True)
    assert len(keys) == 30


def test_reservations_sorted_by_updated_on_desc_then_id_desc(
    make_scenario: Callable[..., Scenario], api_for: Callable
) -> None:
    """The reservation listing is updatedOn descending, id descending among equal times."""
    world = build_world(make_scenario(dataset={"conversations": 30}))  # its own copy: the test edits it
    by_updated = sorted(world.reservations.values(), key=lambda r: max(ms for _, ms in r.updates))
    tie_ms = max(ms for _, ms in by_updated[20].updates)
    for res in (by_updated[2], by_updated[9], by_updated[14]):  # bump three reservations to the same instant
        res.updates.append((-100.0, tie_ms))
        res.updates.sort()
    records = listing(api_for(world), RESERVATIONS)
    keys = [(parse_ts(r["updatedOn"]), r["id"]) for r in records]
    assert sum(ms == tie_ms for ms, _ in keys) >= 4
    assert keys == sorted(keys, reverse=True)
    assert len(keys) == 30


# -- since filter --------------------------------------------------------------


def test_since_filter_is_inclusive(make_world: Callable[..., World], api_for: Callable) -> None:
    """`since` keeps conversations whose lastMessageAt equals it and drops those one second older."""
    get = api_for(make_world(dataset={"conversations": 25}))
    everything = listing(get, CONVERSATIONS)
    pivot = everything[12]
    status, _, body = get(CONVERSATIONS, since=pivot["lastMessageAt"], limit=10)
    assert status == 200
    expected = [c["id"] for c in everything if parse_ts(c["lastMessageAt"]) >= parse_ts(pivot["lastMessageAt"])]
    assert body["count"] == len(expected) < len(everything)
    kept = [c["id"] for c in listing(lambda p, t, **q: get(p, t, since=pivot["lastMessageAt"], **q), CONVERSATIONS)]
    assert kept == expected
    assert pivot["id"] in kept


def test_since_after_every_message_gives_an_empty_listing(make_world: Callable[..., World], api_for: Callable) -> None:
    """A `since` later than every lastMessageAt returns count 0 and no records."""
    get = api_for(make_world())
    status, _, body = get(CONVERSATIONS, since="2026-03-02 08:59:59")
    assert status == 200 and body["count"] == 0 and body["result"] == []


def test_malformed_since_is_a_400(make_world: Callable[..., World], api_for: Callable) -> None:
    """A `since` that is not a timestamp is answered 400."""
    get = api_for(make_world())
    status, _, body = get(CONVERSATIONS, since="yesterday")
    assert status == 400 and "since" in body["message"]


# -- activity during the sync ----------------------------------------------------


def test_message_arriving_during_the_sync_appears_at_its_time(
    make_world: Callable[..., World], api_for: Callable
) -> None:
    """A message with visible_t > 0 is absent from its conversation before that time and present after."""
    world = make_world(activity={"during_sync": 1, "during_sync_window_s": [2.5, 2.5]})
    [late] = [m for m in world.messages() if m.visible_t > 0]
    get = api_for(world)
    path = f"/v1/accounts/acc-1/conversations/{late.conversation_id}/messages"

    _, _, before = get(path, late.visible_t - 0.5, limit=10)
    listed_before = {c["id"]: c["lastMessageAt"] for c in listing(get, CONVERSATIONS, late.visible_t - 0.5)}
    _, _, after = get(path, late.visible_t + 0.5, limit=10)
    listed_after = {c["id"]: c["lastMessageAt"] for c in listing(get, CONVERSATIONS, late.visible_t + 0.5)}

    assert late.id not in [m["id"] for m in before["result"]]
    assert late.id in [m["id"] for m in after["result"]]
    assert after["count"] == before["count"] + 1
    assert parse_ts(listed_after[late.conversation_id]) == late.sent_ms
    assert parse_ts(listed_before[late.conversation_id]) < late.sent_ms


def test_during_sync_message_moves_its_conversation_to_the_top(
    make_world: Callable[..., World], api_for: Callable
) -> None:
    """Once a during-sync message is visible its conversation leads the lastMessageAt-desc listing."""
    world = make_world(activity={"during_sync": 1, "during_sync_window_s": [2.5, 2.5]})
    [late] = [m for m in world.messages() if m.visible_t > 0]
    get = api_for(world)
    first_before = get(CONVERSATIONS, 0.0, limit=1)[2]["result"][0]["id"]
    first_after = get(CONVERSATIONS, late.visible_t, limit=1)[2]["result"][0]["id"]
    assert first_after == late.conversation_id
    assert first_before != late.conversation_id  # it was not already on top


# -- rate limit -----------------------------------------------------------------


def test_throttled_request_is_a_429_with_retry_after(make_world: Callable[..., World], api_for: Callable) -> None:
    """Past the limit a request gets 429 with Retry-After = seconds to the window's end, rounded up."""
    get = api_for(make_world(rate_limit={"algorithm": "fixed-window", "limit": 2, "window_s": 10.0}))
    statuses = [get(CONVERSATIONS, 2.5)[0] for _ in range(2)]
    status, headers, body = get(CONVERSATIONS, 2.5)
    assert statuses == [200, 200]
    assert status == 429
    assert headers["retry-after"] == str(math.ceil(10.0 - 2.5)) == "8"
    assert body["status"] == "fail"


def test_retry_after_is_at_least_one_second(make_world: Callable[..., World], api_for: Callable) -> None:
    """A rejection 0.2 s before the window ends still says Retry-After: 1, and the request then succeeds."""
    get = api_for(make_world(rate_limit={"algorithm": "fixed-window", "limit": 1, "window_s": 1.0}))
    assert get(CONVERSATIONS, 0.8)[0] == 200
    status, headers, _ = get(CONVERSATIONS, 0.8)
    assert status == 429 and headers["retry-after"] == "1"
    assert get(CONVERSATIONS, 0.8 + int(headers["retry-after"]))[0] == 200


def test_admitted_responses_carry_no_retry_after(make_world: Callable[..., World], api_for: Callable) -> None:
    """A 200 under the limit has no Retry-After header."""
    get = api_for(make_world(rate_limit={"algorithm": "fixed-window", "limit": 5, "window_s": 1.0}))
    status, headers, _ = get(CONVERSATIONS, 0.0)
    assert status == 200 and "retry-after" not in headers
