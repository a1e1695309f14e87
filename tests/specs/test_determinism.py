"""Same scenario, seed and settings: byte-identical rows, in every fan-out mode and at any worker count."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

import bench.run.session
from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from strategies import Options

STRATEGIES = ["client-filter"]
FANOUTS = ["sequential", "threads", "async"]
WORKERS = [1, 5, 50]


def rows_of(strategy: str, fanout: str, workers: int, seed: int | None = None) -> list[dict[str, Any]]:
    """A fresh run of pms-1000 (the rows only)."""
    scenario = load_scenario("pms-1000", seed)
    return run(RunSpec(scenario, strategy, fanout, Options(workers=workers))).rows


@cache
def cached_json(strategy: str, fanout: str, workers: int, seed: int | None = None) -> str:
    """The rows of one run as JSON, computed once per module."""
    return json.dumps(rows_of(strategy, fanout, workers, seed))


def without_fanout(document: str) -> list[dict[str, Any]]:
    rows = json.loads(document)
    for row in rows:
        assert row.pop("fanout") in FANOUTS
    return rows


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("fanout", FANOUTS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rerun_gives_identical_rows(strategy: str, fanout: str, workers: int) -> None:
    """Two runs with the same settings give byte-identical JSON rows."""
    first = cached_json(strategy, fanout, workers)
    second = json.dumps(rows_of(strategy, fanout, workers))
    assert first == second
    assert json.loads(first)[0]["status"] == "ok"


@pytest.mark.parametrize("fanout", FANOUTS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_different_seed_changes_the_rows(strategy: str, fanout: str) -> None:
    """Another seed gives other rows (a different world), not just another seed field."""
    one = json.loads(cached_json(strategy, fanout, 5))
    two = json.loads(cached_json(strategy, fanout, 5, 2))
    assert two[0]["seed"] == 2
    for row in (one[0], two[0]):
        row.pop("seed")
    assert one != two


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_threads_and_async_give_identical_rows(strategy: str, workers: int) -> None:
    """The thread pool and asyncio fan-outs give the same rows (apart from the fanout key) at equal settings."""
    assert without_fanout(cached_json(strategy, "threads", workers)) == without_fanout(
        cached_json(strategy, "async", workers)
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sequential_ignores_the_worker_count(strategy: str) -> None:
    """Sequential fan-out gives the same figures at 1, 5 and 50 workers (only the key differs)."""
    measured = []
    for workers in WORKERS:
        [row] = json.loads(cached_json(strategy, "sequential", workers))
        assert row.pop("workers") == workers
        measured.append(row)
    assert measured[0] == measured[1] == measured[2]


def test_more_workers_shorten_a_threaded_run() -> None:
    """Threaded client-filter gets faster from 1 to 5 workers, and never slower from 5 to 50."""
    makespans = [json.loads(cached_json("client-filter", "threads", w))[0]["makespan_s"] for w in WORKERS]
    assert makespans[0] > makespans[1] >= makespans[2]


def test_client_filter_sequential_matches_the_field_study() -> None:
    """Sequential client-filter reads 10 conversation pages and takes 10 to 20 simulated seconds."""
    [row] = json.loads(cached_json("client-filter", "sequential", 1))
    assert row["pages_by_endpoint"]["conversations"] == 10
    assert 10 <= row["makespan_s"] <= 20
    assert row["status"] == "ok" and row["coverage"] == 1.0


def _run_with_store_tampering(monkeypatch: pytest.MonkeyPatch, tamper: Any) -> tuple[dict[str, Any], list[int]]:
    """Run sequential client-filter, letting `tamper(store, expected_ids)` edit the store just before measuring."""
    real_measure = bench.run.session.measure
    touched: list[int] = []

    def measure(**kwargs: Any) -> dict[str, Any]:
        touched.extend(tamper(kwargs["store"], sorted(kwargs["truth"].conversations)))
        return real_measure(**kwargs)

    monkeypatch.setattr(bench.run.session, "measure", measure)
    [row] = run(RunSpec(load_scenario("pms-1000"), "client-filter", "sequential", Options(workers=1))).rows
    return row, touched


def test_coverage_drops_when_conversations_vanish_from_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting three expected conversations from the store lowers found and coverage by exactly three."""

    def drop_three(store: Any, expected: list[int]) -> list[int]:
        victims = expected[:3]
        store.db.executemany("DELETE FROM conversations WHERE id = ?", [(cid,) for cid in victims])
        return victims

    row, victims = _run_with_store_tampering(monkeypatch, drop_three)
    expected = row["conversations_expected"]
    assert expected > 3
    assert row["conversations_found"] == expected - 3
    assert row["coverage"] == round((expected - 3) / expected, 6)
    assert sorted(m["id"] for m in row["missed"]) == victims


def test_coverage_counts_a_conversation_with_a_missing_message_as_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored conversation missing one required message is not found, and is diagnosed as incomplete."""

    def drop_one_message(store: Any, expected: list[int]) -> list[int]:
        cid = expected[0]
        [(mid,)] = store.db.execute(
            "SELECT id FROM messages WHERE conversation_id = ? ORDER BY sent_at DESC LIMIT 1", (cid,)
        ).fetchall()
        store.db.execute("DELETE FROM messages WHERE id = ?", (mid,))
        return [cid]

    row, [cid] = _run_with_store_tampering(monkeypatch, drop_one_message)
    assert row["conversations_found"] == row["conversations_expected"] - 1
    assert row["coverage"] < 1.0
    assert row["messages_stored"] == row["messages_expected"] - 1
    [missed] = row["missed"]
    assert missed["id"] == cid and missed["reason"].startswith("messages-incomplete")


def test_untampered_run_finds_every_expected_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without tampering the same harness reports full coverage (the tampering tests are not vacuous)."""
    row, _ = _run_with_store_tampering(monkeypatch, lambda store, expected: [])
    assert row["conversations_found"] == row["conversations_expected"] > 0
    assert row["coverage"] == 1.0 and row["missed"] == []
