"""Each trap is a scenario knob; each test shows which strategy it catches, and names the cause.

A control run with the trap off shows the same strategy loses nothing, so the miss is
the trap's doing. Planted strategies stand for the naive client code a trap catches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario
from strategies import Options, SyncGen, registry
from strategies.client_filter import ClientFilter
from strategies.context import SyncContext
from strategies.effects import Call, FanOut
from strategies.steps import fetch_messages, store_bookmark, store_conversations

#: One account, 60 conversations in pages of 10, activity since the cutoff, no rate limit.
BASE: dict[str, Any] = {
    "dataset": {"conversations": 60, "orphans": 2, "messages": [1, 4]},
    "activity": {"cutoff_ago_s": 3600, "active": 12, "active_orphans": 1, "reservation_only": 3},
}


class NaiveListing(ClientFilter):
    """client-filter's shape written the naive way; subclasses plant one mistake each."""

    def fresh(self, ctx: SyncContext, conversation: dict[str, Any], cutoff: int) -> bool:
        return ctx.profile.parse_ts(conversation["lastMessageAt"]) >= cutoff

    def last_page(self, ctx: SyncContext, page: list[dict[str, Any]], offset: int, count: int) -> bool:
        return not page or offset >= count

    def sync_account(self, ctx: SyncContext, account: str, started_ms: int) -> SyncGen:
        cutoff = ctx.store.bookmark(account) or 0
        keep: list[dict[str, Any]] = []
        offset = 0
        while True:
            path = ctx.profile.conversations.format(account=account)
            response = yield Call("GET", path, {"limit": ctx.page_size, "offset": offset})
            body = ctx.profile.body(response)
            keep += [c for c in body["result"] if self.fresh(ctx, c, cutoff)]
            offset += len(body["result"])
            if self.last_page(ctx, body["result"], offset, body["count"]):
                break
        yield from store_conversations(ctx, account, keep)
        yield FanOut([fetch_messages(ctx, account, c["id"]) for c in keep])
        yield from store_bookmark(ctx, account, started_ms)


class StrictCutoff(NaiveListing):
    """Planted bug: keeps conversations with lastMessageAt strictly after the bookmark."""

    name = "planted-strict-cutoff"

    def fresh(self, ctx: SyncContext, conversation: dict[str, Any], cutoff: int) -> bool:
        return ctx.profile.parse_ts(conversation["lastMessageAt"]) > cutoff


class StopOnShortPage(NaiveListing):
    """Planted bug: takes a page shorter than the limit to be the last one."""

    name = "planted-short-page-stop"

    def last_page(self, ctx: SyncContext, page: list[dict[str, Any]], offset: int, count: int) -> bool:
        return len(page) < ctx.page_size


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the planted strategies for this test only."""
    monkeypatch.setattr(registry, "BUILTIN", (*registry.BUILTIN, StrictCutoff, StopOnShortPage))


def _rows(scenario: Scenario, strategy: str, **options: Any) -> list[dict[str, Any]]:
    return run(RunSpec(scenario, strategy, "threads", Options(workers=4, **options))).rows


def _reasons(rows: list[dict[str, Any]]) -> set[str]:
    return {m["reason"].split(":")[0] for r in rows for m in r["missed"]}


def _missed(rows: list[dict[str, Any]]) -> int:
    return sum(r["conversations_missed"] for r in rows)


CASES = [
    pytest.param(
        {"traps": {"cutoff_ties": 3}}, "planted-strict-cutoff", {}, "cutoff-tie", "client-filter", id="cutoff-tie"
    ),
    pytest.param(
        {
            "traps": {"short_pages": True},
            "activity": {"cutoff_ago_s": 3600, "active": 30, "active_orphans": 1, "reservation_only": 3},
        },
        "planted-short-page-stop",
        {},
        "short-page",
        "client-filter",
        id="short-page",
    ),
    pytest.param(
        {"traps": {"unsorted": 2}},
        "reservation-early-stop",
        {},
        "unsorted-listing",
        "client-filter",
        id="unsorted-list",
    ),
    pytest.param(
        {"traps": {"unbumped": 0.5}},
        "reservation-early-stop",
        {},
        "reservation-not-updated",
        "client-filter",
        id="unbumped-reservation",
    ),
    pytest.param(
        {"traps": {"late_arrival_s": 30}, "next_syncs": [{"after_s": 300, "new_messages": 30}]},
        "since-incremental",
        {},
        "late-arrival",
        "since-incremental:30",
        id="late-arrival",
    ),
    pytest.param(
        {"traps": {"clock_skew_s": 20}, "next_syncs": [{"after_s": 300, "new_messages": 30}]},
        "since-incremental",
        {},
        "late-arrival",
        "since-incremental:20",
        id="clock-skew",
    ),
]


@pytest.mark.parametrize(("trap", "victim", "options", "reason", "survivor"), CASES)
def test_trap_catches_a_strategy_and_names_itself(
    planted: None,
    make_scenario: Callable[..., Scenario],
    trap: dict[str, Any],
    victim: str,
    options: dict[str, Any],
    reason: str,
    survivor: str,
) -> None:
    """With the trap on, the victim misses conversations and every miss names the trap; a correct strategy does not."""
    scenario = make_scenario(**{**BASE, **trap})
    rows = _rows(scenario, victim, **options)
    assert _missed(rows) > 0
    assert _reasons(rows) <= set(reason.split("|")), _reasons(rows)
    name, _, lookback = survivor.partition(":")
    assert _missed(_rows(scenario, name, lookback_s=float(lookback or 0))) == 0


@pytest.mark.parametrize(("trap", "victim", "options", "reason", "survivor"), CASES)
def test_without_the_trap_the_victim_loses_nothing(
    planted: None,
    make_scenario: Callable[..., Scenario],
    trap: dict[str, Any],
    victim: str,
    options: dict[str, Any],
    reason: str,
    survivor: str,
) -> None:
    """The control: the same world without the trap, the same strategy, no miss."""
    scenario = make_scenario(**{**BASE, **{k: v for k, v in trap.items() if k != "traps"}})
    assert _missed(_rows(scenario, victim, **options)) == 0


def test_lookback_below_lateness_plus_skew_misses_and_at_it_does_not(make_scenario: Callable[..., Scenario]) -> None:
    """since-incremental needs lookback >= L + S: less misses late records, exactly that misses none."""
    scenario = make_scenario(
        **BASE,
        traps={"late_arrival_s": 20, "clock_skew_s": 10},
        next_syncs=[{"after_s": 300, "new_messages": 40, "during_sync": 6}],
    )
    short = _rows(scenario, "since-incremental", lookback_s=5)
    enough = _rows(scenario, "since-incremental", lookback_s=30)
    assert _missed(short) > 0 and _reasons(short) == {"late-arrival"}
    assert _missed(enough) == 0
    assert all(r["duplicates"] == 0 for r in enough)


def test_rows_shift_between_offset_pages_when_messages_arrive_mid_listing(
    make_scenario: Callable[..., Scenario],
) -> None:
    """A conversation that gets a message while later pages are read jumps to page 1: offset paging skips it."""
    scenario = make_scenario(
        dataset={"conversations": 120, "orphans": 0, "messages": [1, 3]},
        activity={"cutoff_ago_s": 3600, "active": 0, "during_sync": 30, "during_sync_window_s": [0.2, 2.5]},
        latency={"jitter_sigma": 0, "endpoints": {"conversations": {"base_s": 0.3}}},
    )
    rows = _rows(scenario, "full-pagination")
    assert _missed(rows) > 0
    assert _reasons(rows) == {"shifted-between-pages"}


def test_reservation_updates_without_messages_are_overfetched(make_scenario: Callable[..., Scenario]) -> None:
    """The reservation path fetches conversations of reservations updated with nothing new; filtering does not."""
    scenario = make_scenario(**BASE)
    assert _rows(scenario, "reservation-early-stop")[0]["overfetched"] == 3
    assert _rows(scenario, "client-filter")[0]["overfetched"] == 0


@pytest.mark.parametrize("pagination", ["offset", "keyset", "cursor"])
@pytest.mark.parametrize("short_pages", [False, True], ids=["full-pages", "short-pages"])
def test_every_pagination_dialect_reads_everything(
    make_scenario: Callable[..., Scenario], pagination: str, short_pages: bool
) -> None:
    """Offset, afterId keyset and cursor paging all deliver every conversation, short pages or not."""
    scenario = make_scenario(
        dataset={"conversations": 47, "orphans": 0},
        activity={"active": 0},
        dialect={"pagination": pagination},
        traps={"short_pages": short_pages},
    )
    row = run(RunSpec(scenario, "full-pagination", "sequential")).rows[0]
    assert row["coverage"] == 1.0 and row["conversations_expected"] == 47
    assert row["pages_by_endpoint"]["conversations"] >= 5


def test_server_concurrency_cap_queues_requests_beyond_it(make_scenario: Callable[..., Scenario]) -> None:
    """With the server working on 2 requests at once, 10 workers are no faster than 2, and nothing is lost."""
    capped = make_scenario(latency={"jitter_sigma": 0, "connect_s": 0, "server_concurrency": 2})
    free = make_scenario(latency={"jitter_sigma": 0, "connect_s": 0})

    def time(scenario: Scenario, workers: int) -> float:
        row = run(RunSpec(scenario, "full-pagination", "async", Options(workers=workers))).rows[0]
        assert row["coverage"] == 1.0
        return row["makespan_s"]

    assert time(capped, 10) == pytest.approx(time(capped, 2), rel=0.05)
    assert time(free, 10) < 0.5 * time(capped, 10)
