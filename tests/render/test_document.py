"""bench.render.document and the documents built on it: the gate's report and the fault matrix's faults.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.render import faults as fault_report
from bench.render import gate as gate_report
from bench.render.document import Bullets, Heading, Image, Para, Table, render_html, render_markdown
from bench.scenario.model import load_scenario
from bench.studies import gate
from bench.studies.faults import Matrix, cases_for

BLOCKS = [
    Heading(2, "Scenario a|b"),
    Para("Two <runs> & one table."),
    Table(("name", "time (s)"), (("x|y", "1.5"), ("two\nlines", "20.0")), (False, True)),
    Bullets((("lead", "with a bold lead"), ("", "plain"))),
    Image("a plot", "plot.png"),
]


def test_markdown_renders_each_block_once_apart_by_blank_lines() -> None:
    assert render_markdown(BLOCKS) == (
        "## Scenario a|b\n\n"
        "Two <runs> & one table.\n\n"
        "| name | time (s) |\n|---|---:|\n| x\\|y | 1.5 |\n| two lines | 20.0 |\n\n"
        "- **lead** with a bold lead\n- plain\n\n"
        "![a plot](plot.png)\n"
    )


def test_html_escapes_text_and_embeds_images() -> None:
    page = render_html(BLOCKS, {"plot.png": b"\x89PNG-bytes"}, "a <title>")
    assert "<title>a &lt;title&gt;</title>" in page and "<p>Two &lt;runs&gt; &amp; one table.</p>" in page
    assert '<td>x|y</td><td class="num">1.5</td>' in page
    assert "<li><strong>lead</strong> with a bold lead</li><li>plain</li>" in page
    assert 'src="data:image/png;base64,iVBORy1ieXRlcw=="' in page  # b"\x89PNG-bytes"


# --- the gate's report ---------------------------------------------------------------------------


def _entry(workers: int, makespan: float, calls: int) -> dict[str, Any]:
    key = {
        "scenario": "pms-1000",
        "strategy": "client-filter",
        "fanout": "threads",
        "workers": workers,
        "account_workers": 1,
        "seed": 1,
        "sync": 0,
        "options": {},
    }
    return {"key": key, "makespan_s": makespan, "api_calls": calls, "rate_limited": 0, "coverage": 1.0}


def _verdicts() -> list[gate.Verdict]:
    baseline = gate.Baseline(Path("baseline.json"), [_entry(1, 10.0, 100), _entry(10, 2.0, 100)], None)
    now = [dict(e["key"], **{f: e[f] for f in gate.FIGURES}, status="ok") for e in baseline.entries]
    now[0].update(makespan_s=20.0, status="failed", error="GET /v1/a answered 500 | twice")
    return gate.compare(baseline, [now])


def test_gate_markdown_heads_with_the_verdict_and_keeps_one_line_per_entry() -> None:
    text = gate_report.markdown(_verdicts(), 0.05, 0.05, "Determinism: fine.")
    lines = text.splitlines()
    assert lines[0] == "### syncbench gate: FAIL: 1 regression"
    assert "| entry | makespan (s) | ratio | API calls | throttled | coverage | result |" in lines
    assert "|---|---:|---:|---:|---:|---:|---|" in lines
    failed = next(x for x in lines if x.startswith("| pms-1000 client-filter threads x1 "))
    assert "| 10.000 -> 20.000 | 2.000 |" in failed and "**REGRESSION**" in failed
    assert "answered 500 \\| twice" in failed  # a pipe in a message cannot split the row
    assert text.endswith("\n\nDeterminism: fine.\n")


# --- the fault matrix's faults.md ----------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    world = load_scenario("pms-1000")
    cases = cases_for(world)[:1]
    reference = {
        "strategy": "client-filter",
        "page_size": None,
        "status": "ok",
        "coverage": 1.0,
        "missed": [{"id": 7, "reason": "unsorted: listed after the cutoff"}],
        "duplicates": 0,
        "retries": 0,
        "rate_limited": 0,
        "makespan_s": 3.25,
        "bookmark": "moved",
    }
    cell = {
        "fault": cases[0].name,
        "class": cases[0].kind,
        "strategy": "client-filter",
        "status": "failed",
        "coverage": 0.5,
        "missed_beyond_reference": [1, 2],
        "duplicates": 0,
        "retries": 6,
        "rate_limited": 0,
        "extra_s": 1.0,
        "bookmark": "kept",
        "injected": {"5xx": 3, "reset": 1},
        "verdict": "violation",
        "violations": ["lost 2 conversations silently"],
        "error": "gave up after 6 attempts",
    }
    return Matrix(world, "threads", 10, 5, cases, [reference], [cell])


def test_faults_markdown_holds_the_table_the_faults_and_the_notes(matrix: Matrix) -> None:
    text = fault_report.markdown(matrix)
    blocks = text.split("\n\n")
    assert blocks[0] == "# Fault matrix: pms-1000"
    assert blocks[2] == "**1 violation(s).**"
    table = blocks[3].splitlines()
    assert table[0] == "| " + " | ".join(fault_report.COLUMNS) + " |"
    assert table[1] == "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"  # as the terminal aligns
    assert table[2].startswith("| none | reference | client-filter | ok | 100.0% | 1 (ref) |")
    assert table[3].endswith("| +1.0 | kept | 4 | VIOLATION |")
    case = matrix.cases[0]
    assert blocks[4:6] == ["## Faults", f"- `{case.name}` ({case.kind}): {case.summary}"]
    assert blocks[6] == "## Notes"
    notes = blocks[7].splitlines()
    assert notes[0].startswith("- reference / client-filter: misses 1 conversation(s) without any fault (unsorted x1)")
    assert notes[1:] == [
        f"- {case.name} / client-filter: failed, saying: gave up after 6 attempts",
        f"- {case.name} / client-filter: VIOLATION: lost 2 conversations silently",
    ]
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_the_terminal_table_shows_the_same_cells(matrix: Matrix) -> None:
    table = fault_report.table(matrix)
    assert [c.header for c in table.columns] == list(fault_report.COLUMNS)
    assert list(table.columns[-1].cells) == ["", "VIOLATION"]
    assert list(table.columns[-2].cells) == ["0", "4"]
