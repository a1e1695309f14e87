"""`since`/`until` on the conversation listing, as timestamps or as days only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.api.core import parse_ts
from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario
from strategies import Options

ACTIVE: dict[str, Any] = {
    "dataset": {"conversations": 80, "messages": [1, 4]},
    "activity": {"cutoff_ago_s": 3600, "active": 6},
}


def _day_start(ms: int) -> int:
    day = datetime.fromtimestamp(ms / 1000, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(day.timestamp() * 1000)


def _listed(get: Callable[..., Any], **query: Any) -> tuple[int, list[dict[str, Any]]]:
    status, _, body = get("/v1/accounts/acc-1/conversations", 0.0, **{"limit": 100, **query})
    return status, body.get("result", [])


def test_timestamp_filters_are_inclusive_at_both_ends(make_world: Callable[..., Any], api_for: Callable) -> None:
    world = make_world(**ACTIVE)
    get = api_for(world)
    _, everything = _listed(get)
    pivot = everything[3]["lastMessageAt"]
    _, since = _listed(get, since=pivot)
    _, until = _listed(get, until=pivot)
    assert [c["lastMessageAt"] >= pivot for c in since] == [True] * len(since) and since[-1]["lastMessageAt"] == pivot
    assert until[0]["lastMessageAt"] == pivot and all(c["lastMessageAt"] <= pivot for c in until)


def test_a_date_only_dialect_takes_days_and_refuses_timestamps(
    make_world: Callable[..., Any], api_for: Callable
) -> None:
    world = make_world(**ACTIVE, dialect={"since_format": "date"})
    get = api_for(world)
    cutoff_day = datetime.fromtimestamp(world.cutoff_ms / 1000, tz=UTC).strftime("%Y-%m-%d")
    status, listed = _listed(get, since=cutoff_day)
    assert status == 200
    assert listed and all(parse_ts(c["lastMessageAt"]) >= _day_start(world.cutoff_ms) for c in listed)
    status, _, body = get("/v1/accounts/acc-1/conversations", 0.0, since="2026-03-02 08:00:00")
    assert status == 400 and "since must be a date" in body["message"]
    status, until = _listed(get, until=cutoff_day)
    assert status == 200 and all(parse_ts(c["lastMessageAt"]) < _day_start(world.cutoff_ms) + 86_400_000 for c in until)


def test_since_incremental_reads_the_whole_day_and_keeps_only_what_is_new(
    make_scenario: Callable[..., Scenario],
) -> None:
    """A day-only filter costs listing pages (the whole day comes back), not coverage or over-fetch."""
    rows = {
        fmt: run(RunSpec(make_scenario(**ACTIVE, dialect={"since_format": fmt}), "since-incremental")).rows[0]
        for fmt in ("timestamp", "date")
    }
    for row in rows.values():
        assert row["coverage"] == 1.0 and row["overfetched"] == 0
    assert rows["date"]["pages_by_endpoint"]["conversations"] > rows["timestamp"]["pages_by_endpoint"]["conversations"]
    assert rows["date"]["calls_by_endpoint"]["messages"] == rows["timestamp"]["calls_by_endpoint"]["messages"]


def test_a_lookback_across_midnight_asks_for_the_day_before(make_scenario: Callable[..., Scenario]) -> None:
    """The bookmark minus the lookback may fall on the previous day; the request must name that day."""
    scenario = make_scenario(**ACTIVE, start="2026-03-02T00:10:00Z", dialect={"since_format": "date"})
    row = run(RunSpec(scenario, "since-incremental", options=Options(lookback_s=7200))).rows[0]
    assert row["coverage"] == 1.0
