"""Pieces every strategy shares: the orphan fallback, bookmarks with lookback, dedupe, write modes, plugins."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario
from bench.world.dataset import generate
from strategies import Options, available

ACTIVE = {
    "dataset": {"conversations": 40, "orphans": 6},
    "activity": {"cutoff_ago_s": 3600, "active": 10, "active_orphans": 4, "reservation_only": 2},
}


def _store(scenario: Scenario, strategy: str, **options: Any) -> tuple[list[dict[str, Any]], Any]:
    """The rows of a run and a queryable copy of its store after the last sync."""
    copies: list[Any] = []

    def keep(state: Any) -> None:
        copies.append(
            {
                "conversations": {r[0] for r in state.store.db.execute("SELECT id FROM conversations")},
                "messages": [r[0] for r in state.store.db.execute("SELECT id FROM messages")],
                "bookmarks": dict(state.store.db.execute("SELECT account, value FROM bookmarks")),
            }
        )

    rows = run(RunSpec(scenario, strategy, "threads", Options(workers=3, **options)), observe=keep).rows
    return rows, copies[-1]


def test_orphan_fallback_finds_conversations_without_a_reservation(make_scenario: Callable[..., Scenario]) -> None:
    """reservation-early-stop's catch-up listing stores active conversations whose reservationId is null."""
    scenario = make_scenario(**ACTIVE)
    rows, store = _store(scenario, "reservation-early-stop")
    world = generate(scenario)
    orphans = {c.id for c in world.conversations.values() if c.reservation_id is None}
    assert rows[0]["coverage"] == 1.0
    assert len(orphans & store["conversations"]) >= 4


def test_bookmark_is_server_start_minus_lookback(make_scenario: Callable[..., Scenario]) -> None:
    """After a sync the bookmark is the server's Date at the start, less the lookback, per account."""
    scenario = make_scenario(
        dataset={"accounts": 2, "conversations": 20, "orphans": 0}, activity={"cutoff_ago_s": 3600, "active": 4}
    )
    _, store = _store(scenario, "since-incremental", lookback_s=30)
    assert store["bookmarks"] == {"acc-1": scenario.start_ms - 30_000, "acc-2": scenario.start_ms - 30_000}


def test_lookback_overlap_is_deduplicated_by_id(make_scenario: Callable[..., Scenario]) -> None:
    """A long lookback refetches the previous sync's records; the store keeps one row each."""
    scenario = make_scenario(**ACTIVE, next_syncs=[{"after_s": 60, "new_messages": 5}])
    rows, store = _store(scenario, "since-incremental", lookback_s=3600)
    assert len(store["messages"]) == len(set(store["messages"]))
    assert rows[1]["conversations_found"] == rows[1]["conversations_expected"]
    assert rows[1]["api_calls"] > rows[1]["conversations_expected"]  # the overlap was refetched


@pytest.mark.parametrize(
    ("mode", "chunk"),
    [
        pytest.param("row", 500, id="row"),
        pytest.param("bulk", 500, id="bulk"),
        pytest.param("chunked", 7, id="chunked-7"),
    ],
)
def test_write_modes_store_the_same_rows_at_different_cost(
    make_scenario: Callable[..., Scenario], mode: str, chunk: int
) -> None:
    """row, bulk and chunked writes store identical data; round trips cost row > chunked > bulk."""
    scenario = make_scenario(
        dataset={"conversations": 30, "orphans": 0, "messages": [8, 20]},
        activity={"first_sync": True},
        dialect={"page_size": 10, "max_page_size": 100},
    )
    rows, store = _store(scenario, "full-pagination", write_mode=mode, chunk_size=chunk)
    assert len(store["messages"]) == rows[0]["messages_expected"]
    bulk = run(RunSpec(scenario, "full-pagination", "threads", Options(workers=3))).rows[0]
    store = rows[0]["phase_seconds"]["store"]
    if mode == "row":
        assert store > 3 * bulk["phase_seconds"]["store"]
    elif mode == "chunked":
        assert store > bulk["phase_seconds"]["store"]
    else:
        assert store == bulk["phase_seconds"]["store"]


PLUGIN = '''
from strategies import FanOut, Strategy
from strategies.paging import paginate
from strategies.steps import fetch_messages, store_bookmark, store_conversations


class Tiny(Strategy):
    """Every conversation, no filter: a user's own strategy."""

    name = "tiny-plugin"
    summary = "a plugin strategy"
    full = True

    def sync_account(self, ctx, account, started_ms):
        convs = yield from paginate(ctx, ctx.profile.conversations.format(account=account))
        yield from store_conversations(ctx, account, convs)
        yield FanOut([fetch_messages(ctx, account, c["id"]) for c in convs])
        yield from store_bookmark(ctx, account, started_ms)
'''


def test_plugin_strategy_loads_from_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_scenario: Callable[..., Scenario]
) -> None:
    """A distribution declaring `syncbench.strategies` is listed and runs like a built-in."""
    (tmp_path / "tiny_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "tiny_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[syncbench.strategies]\ntiny-plugin = tiny_plugin:Tiny\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "tiny-plugin" in available()
    listing = CliRunner().invoke(app, ["strategies"])
    assert "tiny-plugin" in listing.stdout
    row = run(RunSpec(make_scenario(), "tiny-plugin", "async", Options(workers=4))).rows[0]
    assert row["status"] == "ok" and row["coverage"] == 1.0
