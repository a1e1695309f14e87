"""bench.analysis.compare over hand-made rows: grouping, speedups, ratios, tables, differences, scaling notes."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from bench.analysis import compare

Row = dict[str, Any]


def make_row(**fields: Any) -> Row:
    """A complete result row (docs/design.md, Contracts) with plausible defaults; `fields` override them."""
    row: Row = {
        "scenario": "pms",
        "strategy": "client-filter",
        "fanout": "threads",
        "workers": 10,
        "account_workers": 1,
        "seed": 1,
        "sync": 0,
        "options": {},
        "status": "ok",
        "error": None,
        "makespan_s": 10.0,
        "phase_seconds": {"listing": 2.0, "messages": 8.0},
        "api_calls": 50,
        "calls_by_endpoint": {"conversations": 10, "messages": 40},
        "pages_by_endpoint": {"conversations": 10},
        "rate_limited": 0,
        "retries": 0,
        "peak_concurrency": 10,
        "conversations_expected": 40,
        "conversations_found": 40,
        "conversations_missed": 0,
        "missed": [],
        "overfetched": 0,
        "duplicates": 0,
        "messages_expected": 80,
        "messages_stored": 80,
        "coverage": 1.0,
        "lower_bound_s": 5.0,
        "efficiency": 0.5,
    }
    row.update(fields)
    return row


SEQ = make_row(fanout="sequential", workers=1, makespan_s=40.0)
T5 = make_row(workers=5, makespan_s=10.0)
T10 = make_row(workers=10, makespan_s=8.0)
T20 = make_row(workers=20, makespan_s=5.0, rate_limited=6, retries=6)
SWEEP = [T20, SEQ, T10, T5]


# --- grouping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            SWEEP,
            {("pms", "client-filter", "sequential"): [1], ("pms", "client-filter", "threads"): [5, 10, 20]},
            id="fanouts-split-and-ordered-by-workers",
        ),
        pytest.param(
            [make_row(workers=20), make_row(workers=10, options={"page_size": 50}), make_row(workers=5)],
            {("pms", "client-filter", "threads"): [5, 20]},
            id="options-split-groups",
        ),
        pytest.param(
            [make_row(strategy="b"), make_row(strategy="a", workers=3), make_row(strategy="a", workers=2)],
            {("pms", "a", "threads"): [2, 3], ("pms", "b", "threads"): [10]},
            id="strategies-split",
        ),
        pytest.param([], {}, id="empty"),
    ],
)
def test_group_rows(rows: list[Row], expected: dict[tuple[str, str, str], list[int]]) -> None:
    groups = compare.group_rows(rows)
    plain = {k[:3]: [r["workers"] for r in v] for k, v in groups.items() if k[4] == "{}"}
    assert plain == expected
    assert sum(len(v) for v in groups.values()) == len(rows)


# --- speedup ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "rows", "expected"),
    [
        pytest.param(T20, SWEEP, 8.0, id="over-sequential"),
        pytest.param(SEQ, SWEEP, 1.0, id="sequential-itself"),
        pytest.param(T20, [T20, T10, make_row(workers=1, makespan_s=30.0)], 6.0, id="no-sequential-uses-own-fanout-x1"),
        pytest.param(T20, [T20, T10], None, id="no-baseline"),
        pytest.param(
            T20,
            [T20, make_row(fanout="sequential", workers=1, status="failed", makespan_s=1.0)],
            None,
            id="failed-baseline",
        ),
        pytest.param(make_row(workers=20, status="failed"), SWEEP, None, id="failed-row"),
        pytest.param(
            make_row(workers=20, options={"page_size": 50}, makespan_s=4.0),
            SWEEP,
            None,
            id="other-options-are-other-work",
        ),
        pytest.param(make_row(workers=20, seed=2, makespan_s=4.0), SWEEP, None, id="other-seed-is-other-world"),
        pytest.param(
            T20, [T20, make_row(fanout="sequential", workers=4, makespan_s=100.0), SEQ], 8.0, id="prefers-sequential-x1"
        ),
    ],
)
def test_speedup(row: Row, rows: list[Row], expected: float | None) -> None:
    assert compare.speedup(row, rows) == expected


def test_speedups_align_with_rows() -> None:
    assert compare.speedups(SWEEP) == [8.0, 1.0, 5.0, 4.0]


@pytest.mark.parametrize(
    ("fast", "slow", "ratio", "text"),
    [
        pytest.param(5.0, 10.0, 2.0, "2.0x faster", id="faster"),
        pytest.param(10.0, 5.0, 0.5, "2.0x slower", id="slower"),
        pytest.param(10.0, 10.0, 1.0, "as fast", id="equal"),
    ],
)
def test_times_faster(fast: float, slow: float, ratio: float, text: str) -> None:
    got = compare.times_faster(make_row(makespan_s=fast), make_row(makespan_s=slow))
    assert got == ratio
    assert compare.faster_text(got) == text


def test_times_faster_with_a_failed_run_is_none() -> None:
    assert compare.times_faster(make_row(status="failed"), make_row()) is None
    assert compare.faster_text(None).startswith("not comparable")


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [
        pytest.param(None, {("a", "c"): 4.0, ("b", "c"): 2.0}, id="default-is-slowest"),
        pytest.param("b", {("a", "b"): 2.0, ("c", "b"): 0.5}, id="named-baseline"),
        pytest.param("missing", {}, id="absent-baseline"),
    ],
)
def test_faster_ratios(baseline: str | None, expected: dict[tuple[str, str], float]) -> None:
    rows = [
        make_row(strategy="a", makespan_s=5.0),
        make_row(strategy="b", makespan_s=10.0),
        make_row(strategy="c", makespan_s=20.0),
        make_row(strategy="a", workers=20, makespan_s=1.0),
    ]
    got = {(r["strategy"], r["baseline"]): r["ratio"] for r in compare.faster_ratios(rows, baseline)}
    assert got == expected


# --- summary ----------------------------------------------------------------------------------


def test_summary_tables_per_scenario_in_canonical_order() -> None:
    rows = [*SWEEP, make_row(scenario="inbox", strategy="since-incremental", overfetched=3, coverage=0.9)]
    tables = compare.summary_tables(rows)
    assert list(tables) == ["inbox", "pms"]
    assert [(e["fanout"], e["workers"]) for e in tables["pms"]] == [
        ("sequential", 1),
        ("threads", 5),
        ("threads", 10),
        ("threads", 20),
    ]
    last = tables["pms"][-1]
    assert (last["time_s"], last["speedup"], last["calls"], last["throttled"]) == (5.0, 8.0, 50, 6)
    assert (last["coverage"], last["overfetched"], last["efficiency"]) == (1.0, 0, 0.5)
    assert tables["inbox"][0]["overfetched"] == 3 and tables["inbox"][0]["speedup"] is None


def test_missed_conversations_lists_each_id_once_with_its_settings() -> None:
    miss = [{"id": 7, "reason": "early-stop: the listing stopped before reaching it"}]
    rows = [make_row(workers=5, missed=miss), make_row(workers=10, missed=miss), make_row(strategy="x", missed=[])]
    assert compare.missed_conversations(rows) == [
        {
            "scenario": "pms",
            "strategy": "client-filter",
            "id": 7,
            "reason": miss[0]["reason"],
            "settings": ["threads x5", "threads x10"],
        }
    ]


# --- explain_differences ----------------------------------------------------------------------

RESERVATION = make_row(
    strategy="reservation-early-stop",
    conversations_expected=36,
    conversations_found=36,
    overfetched=16,
    calls_by_endpoint={"reservations": 1, "reservation_conversations": 50, "messages": 56},
    api_calls=107,
)
CLIENT = make_row(
    strategy="client-filter",
    conversations_expected=36,
    conversations_found=34,
    conversations_missed=2,
    calls_by_endpoint={"conversations": 10, "messages": 34},
    api_calls=44,
    coverage=0.944444,
    missed=[
        {"id": 5, "reason": "filtered-out: listed, but judged older"},
        {"id": 9, "reason": "shifted-between-pages: the listing changed"},
    ],
)


@pytest.mark.parametrize(
    ("rows", "pairs", "fragments", "items"),
    [
        pytest.param(
            [RESERVATION, CLIENT],
            1,
            [
                "reservation-early-stop made 56 message calls = 56 fetches = 36 expected and found + 16 over-fetched",
                "+ 4 the row does not classify",
                "client-filter missed 2 that reservation-early-stop stored: "
                "5 (filtered-out); 9 (shifted-between-pages)",
                "22 = +2 found (conversations client-filter missed) +16 over-fetched +4 the rows do not classify",
            ],
            [
                (5, "reservation-early-stop", "client-filter", "filtered-out: listed, but judged older"),
                (9, "reservation-early-stop", "client-filter", "shifted-between-pages: the listing changed"),
            ],
            id="misses-and-overfetch",
        ),
        pytest.param(
            [
                RESERVATION,
                make_row(
                    strategy="client-filter",
                    conversations_expected=36,
                    conversations_found=36,
                    calls_by_endpoint={"messages": 36},
                    rate_limited=0,
                ),
            ],
            1,
            ["Neither missed a conversation the other stored", "+0 found +16 over-fetched +4"],
            [],
            id="overfetch-only",
        ),
        pytest.param(
            [
                make_row(
                    strategy="full",
                    conversations_expected=1000,
                    conversations_found=999,
                    missed=[{"id": 448, "reason": "shifted-between-pages: moved"}],
                    calls_by_endpoint={"messages": 1063},
                    rate_limited=64,
                ),
                RESERVATION,
            ],
            1,
            [
                "1063 message calls less 64 throttled calls = 999 fetches",
                "different ground truths (1000 vs 36",
                "may not have been expected to fetch it",
            ],
            [(448, "reservation-early-stop", "full", "shifted-between-pages: moved")],
            id="different-truths",
        ),
        pytest.param(
            [RESERVATION, make_row(strategy="client-filter", workers=20)],
            0,
            [],
            [],
            id="other-settings-not-paired",
        ),
        pytest.param(
            [make_row(strategy="a", calls_by_endpoint={"events": 3}), make_row(strategy="b")],
            1,
            ["a found 40 of 40 expected conversations and over-fetched 0 (the row has no per-conversation"],
            [],
            id="no-message-endpoint",
        ),
        pytest.param(
            [make_row(strategy="a", status="failed", error="boom"), make_row(strategy="b")],
            1,
            ["a failed (boom), so its figures are partial"],
            [],
            id="failed-run",
        ),
    ],
)
def test_explain_differences(
    rows: list[Row], pairs: int, fragments: list[str], items: list[tuple[int, str, str, str]]
) -> None:
    explained = compare.explain_differences(rows)
    assert len(explained) == pairs
    text = " ".join(e["text"] for e in explained)
    for fragment in fragments:
        assert fragment in text
    got = [(c["id"], c["has"], c["lacks"], c["reason"]) for e in explained for c in e["conversations"]]
    assert got == items
    assert all(c["kind"] == "miss" for e in explained for c in e["conversations"])


def test_explain_differences_reports_overfetch_counts() -> None:
    (pair,) = compare.explain_differences([RESERVATION, CLIENT])
    assert pair["overfetched"] == {"client-filter": 0, "reservation-early-stop": 16}
    assert (pair["first"], pair["second"], pair["settings"]) == (
        "client-filter",
        "reservation-early-stop",
        "threads x10",
    )


# --- scaling_notes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "fragments", "absent"),
    [
        pytest.param(
            SWEEP,
            [
                "client-filter / threads: sequential 40.00 s",
                "20 workers 5.00 s (8.0x)",
                "linear scaling would give 20x",
                "Throttling binds from 20 workers",
                "6 of 50 calls (12%) were throttled",
                "Going from 10 to 20 workers",
            ],
            ["No call"],
            id="throttling-binds",
        ),
        pytest.param(
            [SEQ, T10],
            ["No call was throttled", "lower bound of 5.00 s (efficiency 50%"],
            ["Throttling"],
            id="no-throttling",
        ),
        pytest.param(
            [
                make_row(
                    fanout="sequential", workers=1, makespan_s=20.0, phase_seconds={"listing": 6.0, "messages": 14.0}
                ),
                make_row(
                    workers=20,
                    makespan_s=7.5,
                    efficiency=0.9,
                    lower_bound_s=6.75,
                    phase_seconds={"listing": 6.0, "messages": 1.5},
                ),
            ],
            ["listing 6.00 s (80% of the run)", "at most 0.75 s is left"],
            ["messages 1.50"],
            id="serial-phase",
        ),
        pytest.param(
            [SEQ, make_row(workers=20, makespan_s=10.0, phase_seconds={"listing": 2.0, "messages": 4.0})],
            ["Its phases add up to only 6.00 s of the 10.00 s, so for at least 4.00 s"],
            [],
            id="idle-time",
        ),
        pytest.param([SEQ], [], [], id="sequential-only-says-nothing"),
        pytest.param(
            [*SWEEP, *(dict(r, fanout="async") for r in (T5, T10, T20))],
            ["client-filter / async: the same times, calls and throttling as threads at 5, 10, 20 workers."],
            ["client-filter / async: sequential"],
            id="identical-fanouts-said-once",
        ),
    ],
)
def test_scaling_notes(rows: list[Row], fragments: list[str], absent: list[str]) -> None:
    notes = compare.scaling_notes(rows)
    text = " ".join(notes)
    assert all(f in text for f in fragments), text
    assert not any(a in text for a in absent), text
    if not fragments:
        assert notes == []


# --- purity -----------------------------------------------------------------------------------

ALL_ROWS = [*SWEEP, RESERVATION, CLIENT, make_row(scenario="inbox", strategy="since-incremental", workers=5)]


@pytest.mark.parametrize(
    "function",
    [
        pytest.param(compare.group_rows, id="group_rows"),
        pytest.param(compare.speedups, id="speedups"),
        pytest.param(compare.faster_ratios, id="faster_ratios"),
        pytest.param(compare.summary_tables, id="summary_tables"),
        pytest.param(compare.missed_conversations, id="missed_conversations"),
        pytest.param(compare.explain_differences, id="explain_differences"),
        pytest.param(compare.scaling_notes, id="scaling_notes"),
    ],
)
def test_functions_are_pure(function: Any) -> None:
    """Same input, same output, input untouched; and the input's order does not matter."""
    rows = copy.deepcopy(ALL_ROWS)
    first, second = function(rows), function(rows)
    assert first == second
    assert rows == ALL_ROWS
    if function is not compare.speedups:  # speedups is aligned with its input, so order matters by design
        shuffled = copy.deepcopy(ALL_ROWS)
        random.Random(3).shuffle(shuffled)
        again = function(shuffled)
        assert again == first
        if isinstance(first, dict):
            assert list(again) == list(first)  # the same order too: reports render in it
