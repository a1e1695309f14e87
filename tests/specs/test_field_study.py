"""The shipped scenarios reproduce the shape of the field studies' findings (docs/design.md)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from strategies import Options


@cache
def rows(scenario: str, strategy: str, fanout: str = "threads", **options: Any) -> tuple[dict[str, Any], ...]:
    return tuple(run(RunSpec(load_scenario(scenario), strategy, fanout, Options(**options))).rows)


def test_baseline_pages_all_conversations_in_about_15_simulated_seconds() -> None:
    """client-filter reads 10 conversation pages and takes the order of the study's 15 s sequentially."""
    row = rows("pms-1000", "client-filter", "sequential")[0]
    assert row["pages_by_endpoint"] == {"conversations": 10}
    assert 10 < row["makespan_s"] < 20
    assert row["coverage"] == 1.0


def test_reservation_early_stop_reads_at_most_three_reservation_pages() -> None:
    """The optimized path stops paging reservations at the first older than the bookmark."""
    row = rows("pms-1000", "reservation-early-stop", "threads", workers=10)[0]
    assert 1 <= row["pages_by_endpoint"]["reservations"] <= 3
    assert row["calls_by_endpoint"]["reservation_conversations"] >= 45


@pytest.mark.parametrize("fanout", ["threads", "async"])
def test_fan_out_gets_faster_up_to_ten_workers_but_sub_linearly(fanout: str) -> None:
    """1 -> 5 -> 10 workers: each step faster, but 10 workers are well short of 10x."""
    times = [rows("pms-1000", "reservation-early-stop", fanout, workers=w)[0]["makespan_s"] for w in (1, 5, 10)]
    assert times[0] > times[1] > times[2]
    assert times[0] / times[2] < 10


def test_twenty_workers_hit_the_limit_and_lose_nothing() -> None:
    """Where the account limit binds, throttled calls appear, are retried, and coverage stays whole."""
    ten = rows("pms-1000", "reservation-early-stop", "threads", workers=10)[0]
    twenty = rows("pms-1000", "reservation-early-stop", "threads", workers=20)[0]
    assert ten["rate_limited"] == 0
    assert twenty["rate_limited"] > 0 and twenty["retries"] >= twenty["rate_limited"]
    assert twenty["coverage"] == 1.0 and twenty["status"] == "ok"
    assert 0 < twenty["efficiency"] <= 1


def test_reservation_path_fetches_more_and_the_difference_is_overfetch_not_misses() -> None:
    """The study's "54 vs 34": the extra conversations are reservations updated with nothing new."""
    base = rows("pms-1000", "client-filter", "threads", workers=10)[0]
    fast = rows("pms-1000", "reservation-early-stop", "threads", workers=10)[0]
    assert base["conversations_missed"] == fast["conversations_missed"] == 0
    assert fast["overfetched"] > 0 and base["overfetched"] == 0
    fetched = fast["calls_by_endpoint"]["messages"] - fast["rate_limited"]
    assert fetched == fast["conversations_found"] + fast["overfetched"] + fast["ahead"]


def test_page_size_100_halves_the_listing_calls_of_50() -> None:
    """The inbox study's first change: pages of 100 instead of 50."""
    fifty = rows("inbox-first-sync", "full-pagination", "async", workers=10)[0]
    hundred = rows("inbox-first-sync", "full-pagination", "async", workers=10, page_size=100)[0]
    assert fifty["pages_by_endpoint"]["conversations"] == 2 * hundred["pages_by_endpoint"]["conversations"]


def test_second_sync_with_since_is_at_least_ten_times_faster_than_a_full_reread() -> None:
    """The inbox study's second release: incremental sync from a per-page bookmark."""
    full = rows("inbox-second-sync", "full-pagination", "threads", workers=5)
    since = rows("inbox-second-sync", "since-incremental", "threads", workers=5)
    assert since[1]["conversations_expected"] == 10 and since[1]["coverage"] == 1.0
    assert full[1]["makespan_s"] >= 10 * since[1]["makespan_s"]


def test_five_pages_in_parallel_are_at_least_three_times_faster() -> None:
    """Five accounts, each with its own limit, synced at once instead of one after another."""
    one = rows("inbox-5-pages", "since-incremental", "threads", workers=5)[0]
    five = rows("inbox-5-pages", "since-incremental", "threads", workers=5, account_workers=5)[0]
    assert one["coverage"] == five["coverage"] == 1.0
    assert one["makespan_s"] >= 3 * five["makespan_s"]


def test_hostile_since_with_enough_lookback_misses_nothing_across_the_timeline() -> None:
    """hostile states L = 30 s and S = 10 s: a 40 s lookback misses nothing, none misses late records."""
    enough = rows("hostile", "since-incremental", "threads", workers=10, lookback_s=40.0)
    none = rows("hostile", "since-incremental", "threads", workers=10)
    assert [r["conversations_missed"] for r in enough] == [0, 0, 0]
    assert sum(r["conversations_missed"] for r in none) > 0
    assert {m["reason"].split(":")[0] for r in none for m in r["missed"]} == {"late-arrival"}
