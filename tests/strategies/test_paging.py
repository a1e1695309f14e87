"""paginate(): offset/limit paging driven by a hand-made fake server that answers each Call by generator .send()."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bench.clock import VirtualClock
from bench.store import SqliteStore
from strategies import ApiProfile, Call, Options, SyncContext, SyncFailed, Write
from strategies.paging import paginate

PATH = "/v1/accounts/acc-1/conversations"


def make_ctx(page_size: int = 3) -> SyncContext:
    return SyncContext(clock=VirtualClock(), store=SqliteStore(), profile=ApiProfile(page_size=page_size))


def page(ids: list[int], count: int | None) -> dict[str, Any]:
    """An envelope holding records with these ids; `count=None` leaves the count out."""
    body: dict[str, Any] = {"status": "success", "result": [{"id": i} for i in ids]}
    if count is not None:
        body["count"] = count
    return body


def drive(gen: Any, bodies: list[dict[str, Any]], status: int = 200) -> tuple[Any, list[Any]]:
    """Answer each Call with the next body; returns paginate's value and every effect it yielded."""
    effects: list[Any] = []
    answers = iter(bodies)
    payload: Any = None
    while True:
        try:
            effect = gen.send(payload)
        except StopIteration as stop:
            return stop.value, effects
        effects.append(effect)
        if isinstance(effect, Call):
            body = next(answers, None)
            assert body is not None, f"paginate asked for a page the server does not have: {effect}"
            request = httpx.Request(effect.method, "http://api.test" + effect.path, params=effect.params)
            payload = httpx.Response(status, json=body, request=request)
        else:
            payload = None


def calls(effects: list[Any]) -> list[Call]:
    return [e for e in effects if isinstance(e, Call)]


def offsets(effects: list[Any]) -> list[int]:
    return [c.params["offset"] for c in calls(effects)]


def test_stops_when_count_is_reached() -> None:
    """Seven records in pages of three: three calls at offsets 0, 3, 6, then it stops."""
    records, effects = drive(paginate(make_ctx(), PATH), [page([1, 2, 3], 7), page([4, 5, 6], 7), page([7], 7)])
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    assert offsets(effects) == [0, 3, 6]


def test_exact_multiple_makes_no_extra_call() -> None:
    """Six records in pages of three: two calls, no third call for an empty page."""
    records, effects = drive(paginate(make_ctx(), PATH), [page([1, 2, 3], 6), page([4, 5, 6], 6), page([], 6)])
    assert len(records) == 6
    assert len(calls(effects)) == 2


def test_stops_on_an_empty_page_without_a_count() -> None:
    """With no count in the envelope, paging ends at the first empty page."""
    records, effects = drive(paginate(make_ctx(), PATH), [page([1, 2, 3], None), page([4], None), page([], None)])
    assert [r["id"] for r in records] == [1, 2, 3, 4]
    assert offsets(effects) == [0, 3, 4]


def test_stops_on_an_empty_page_even_if_count_says_more() -> None:
    """An empty page ends paging even when a stale count promises more records."""
    records, effects = drive(paginate(make_ctx(), PATH), [page([1, 2, 3], 10), page([], 10), page([9], 10)])
    assert [r["id"] for r in records] == [1, 2, 3]
    assert len(calls(effects)) == 2


def test_short_page_does_not_stop_when_count_says_more_remain() -> None:
    """A short page mid-listing is followed by a call at offset + its length until count is reached."""
    records, effects = drive(paginate(make_ctx(), PATH), [page([1, 2, 3], 6), page([4], 6), page([5, 6], 6)])
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert offsets(effects) == [0, 3, 4]


def test_stop_after_ends_paging_early() -> None:
    """stop_after returning True on a page ends paging after that page, whatever count says."""
    seen: list[list[int]] = []

    def stop_after(records: list[dict[str, Any]]) -> bool:
        seen.append([r["id"] for r in records])
        return 5 in seen[-1]

    bodies = [page([1, 2, 3], 9), page([4, 5, 6], 9), page([7, 8, 9], 9)]
    records, effects = drive(paginate(make_ctx(), PATH, stop_after=stop_after), bodies)
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert len(calls(effects)) == 2
    assert seen == [[1, 2, 3], [4, 5, 6]]


def test_stop_after_false_reads_everything() -> None:
    """A stop_after that never fires leaves paging to the count."""
    bodies = [page([1, 2, 3], 5), page([4, 5], 5)]
    records, effects = drive(paginate(make_ctx(), PATH, stop_after=lambda records: False), bodies)
    assert len(records) == 5 and len(calls(effects)) == 2


def test_requests_carry_limit_params_and_phase() -> None:
    """Every call is a GET of the path with the caller's params, limit = page size and the given phase."""
    _, effects = drive(
        paginate(make_ctx(page_size=2), PATH, params={"since": "2026-03-01 00:00:00"}, phase="catch-up"),
        [page([1, 2], 3), page([3], 3)],
    )
    assert [(c.method, c.path, c.phase) for c in calls(effects)] == [("GET", PATH, "catch-up")] * 2
    assert [c.params for c in calls(effects)] == [
        {"since": "2026-03-01 00:00:00", "limit": 2, "offset": 0},
        {"since": "2026-03-01 00:00:00", "limit": 2, "offset": 2},
    ]


def test_each_runs_once_per_non_empty_page_between_calls() -> None:
    """`each(page)` runs after each non-empty page arrives and before the next call, and its effects pass through."""

    def each(records: list[dict[str, Any]]) -> Any:
        yield Write("conversations", "acc-1", records)

    _, effects = drive(paginate(make_ctx(), PATH, each=each), [page([1, 2, 3], None), page([4], None), page([], None)])
    kinds = [type(e).__name__ if isinstance(e, Call) else [r["id"] for r in e.rows] for e in effects]
    assert kinds == ["Call", [1, 2, 3], "Call", [4], "Call"]


@pytest.mark.parametrize("status", [404, 500])
def test_non_200_page_raises_sync_failed(status: int) -> None:
    """A page answered with an error status raises SyncFailed naming the status."""
    with pytest.raises(SyncFailed, match=str(status)):
        drive(paginate(make_ctx(), PATH), [page([1], 1)], status=status)


def test_page_size_option_overrides_the_profile() -> None:
    """Options.page_size, when set, is the limit paginate asks for."""
    ctx = SyncContext(
        clock=VirtualClock(), store=SqliteStore(), options=Options(page_size=50), profile=ApiProfile(page_size=3)
    )
    _, effects = drive(paginate(ctx, PATH), [page([1], 1)])
    assert calls(effects)[0].params["limit"] == 50


def keyset_ctx(max_pages: int = 10_000) -> SyncContext:
    profile = ApiProfile(pagination="keyset", page_size=1)
    return SyncContext(clock=VirtualClock(), store=SqliteStore(), profile=profile, options=Options(max_pages=max_pages))


def test_keyset_reads_on_when_a_moved_anchor_brings_it_back_to_an_afterid() -> None:
    """Record 2 got news while page three was asked for: the server resumes at the top (a page of
    repeats, [3]), and afterId=3 comes again, but record 1 is new since: progress, not a loop."""
    bodies = [page([3], 3), page([2], 3), page([3], 3), page([1], 3)]
    records, effects = drive(paginate(keyset_ctx(), PATH), bodies)
    assert [r["id"] for r in records] == [3, 2, 1]
    assert [c.params.get("afterId") for c in calls(effects)] == [None, 3, 2, 3]


def test_keyset_fails_on_a_cycle_that_brings_nothing_new() -> None:
    bodies = [page([3], 9), page([2], 9), page([3], 9), page([2], 9), page([3], 9)]
    with pytest.raises(SyncFailed, match=rf"^GET {PATH}: paging would send the same request twice \(afterId=2\)"):
        drive(paginate(keyset_ctx(), PATH), bodies)


def test_a_listing_stops_after_max_pages() -> None:
    bodies = [page([i], None) for i in range(1, 10)]
    with pytest.raises(SyncFailed, match=rf"^GET {PATH}: paging stopped after 4 pages \(max_pages\)$"):
        drive(paginate(keyset_ctx(max_pages=4), PATH), bodies)
