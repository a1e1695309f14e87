"""bench.render.report: reports from real runs of pms-1000, their files and their determinism."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bench.render import report
from bench.render.report import write_reports
from bench.run.runner import RunResult, RunSpec, run
from bench.scenario.model import load_scenario, scenario_hash
from strategies import Options

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: small but telling: sequential baselines, two thread widths (the wider one throttled), and 40
#: workers with no retries, which fails on a 429 and leaves conversations missed with their reasons
SETTINGS: list[tuple[str, str, int, dict[str, Any]]] = [
    ("client-filter", "sequential", 1, {}),
    ("client-filter", "threads", 10, {}),
    ("reservation-early-stop", "sequential", 1, {}),
    ("reservation-early-stop", "threads", 10, {}),
    ("reservation-early-stop", "threads", 20, {}),
    ("reservation-early-stop", "threads", 40, {"max_retries": 0}),
]
TIMELINE = "reservation-early-stop threads x20"


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str, int], RunResult]:
    scenario = load_scenario("pms-1000")
    return {
        (strategy, fanout, workers): run(RunSpec(scenario, strategy, fanout, Options(workers=workers, **extra)))
        for strategy, fanout, workers, extra in SETTINGS
    }


@pytest.fixture(scope="module")
def rows(runs: dict[tuple[str, str, int], RunResult]) -> list[dict[str, Any]]:
    return [row for result in runs.values() for row in result.rows]


def test_the_runs_cover_what_the_report_must_explain(rows: list[dict[str, Any]]) -> None:
    """Guards the fixture: without throttling, misses and a failure the checks below would prove little."""
    assert any(r["rate_limited"] for r in rows)
    assert any(r["missed"] for r in rows)
    assert any(r["status"] == "failed" for r in rows)


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {"pms-1000": scenario_hash(load_scenario("pms-1000"))}


def _write(out: Path, rows: list[dict[str, Any]], hashes: dict[str, str], runs: dict[Any, RunResult]) -> list[Path]:
    return write_reports(rows, out, hashes, traces={TIMELINE: runs[("reservation-early-stop", "threads", 20)].trace})


@pytest.fixture(scope="module")
def written(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[dict[str, Any]],
    hashes: dict[str, str],
    runs: dict[Any, RunResult],
) -> list[Path]:
    return _write(tmp_path_factory.mktemp("report"), rows, hashes, runs)


def test_every_file_exists(written: list[Path]) -> None:
    names = {p.name for p in written}
    assert {"report.md", "report.html"} <= names
    assert len([n for n in names if n.endswith(".png")]) == 6  # five row plots and one timeline
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    assert not [p for p in written[0].parent.iterdir() if p.name.endswith(".tmp")]  # no temp files left


def test_pngs_are_valid(written: list[Path]) -> None:
    for path in (p for p in written if p.suffix == ".png"):
        assert path.read_bytes()[:8] == PNG_MAGIC, path.name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 400 and image.height >= 300
            assert "Software" not in image.info  # no matplotlib version in the bytes


def test_markdown_links_every_png_and_names_every_miss(written: list[Path], rows: list[dict[str, Any]]) -> None:
    md = (written[0].parent / "report.md").read_text()
    for png in (p for p in written if p.suffix == ".png"):
        assert f"]({png.name})" in md
    missed = {m["id"]: m["reason"] for r in rows for m in r["missed"]}
    for cid, reason in missed.items():
        assert f"conversation {cid}" in md and reason in md
    for heading in (
        "### Summary",
        "### Missed conversations",
        "### Why the strategies differ",
        "### Why more workers are not proportionally faster",
    ):
        assert heading in md


def test_markdown_figures_come_from_the_rows(written: list[Path], rows: list[dict[str, Any]]) -> None:
    md = (written[0].parent / "report.md").read_text()
    for row in rows:
        assert f"| {row['strategy']} | {row['fanout']} | {row['workers']} |" in md
        assert f" {row['makespan_s']:.3f} | " in md and f" {row['api_calls']} | {row['rate_limited']} | " in md
    assert "### Failed runs" in md
    assert "Scenario hash: " + scenario_hash(load_scenario("pms-1000")) in md


def test_html_is_self_contained(written: list[Path]) -> None:
    page = (written[0].parent / "report.html").read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"url\(\s*[\"']?\s*(?:https?:)?//", page, re.IGNORECASE)
    assert "<script" not in page and "<link" not in page
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    pngs = {p.read_bytes() for p in written if p.suffix == ".png"}
    assert len(embedded) == len(pngs)
    assert {base64.b64decode(data) for data in embedded} == pngs


def test_two_calls_give_identical_files(
    tmp_path: Path,
    written: list[Path],
    rows: list[dict[str, Any]],
    hashes: dict[str, str],
    runs: dict[Any, RunResult],
) -> None:
    again = _write(tmp_path, rows, hashes, runs)
    assert [p.name for p in again] == [p.name for p in written]
    for first, second in zip(written, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name


# --- cheap checks with hand-made rows: the plots are stubbed out -------------------------------


@pytest.fixture
def no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip matplotlib where a test is about the text, not the images."""
    monkeypatch.setattr(report, "PLOTS", ())


def test_every_missed_id_is_named_even_for_many_misses(
    tmp_path: Path, rows: list[dict[str, Any]], no_plots: None
) -> None:
    row = dict(rows[0], missed=[{"id": i, "reason": f"early-stop: test reason {i}"} for i in (3, 17, 404, 999)])
    paths = write_reports([row], tmp_path, {})
    md = paths[0].read_text()
    for i in (3, 17, 404, 999):
        assert f"conversation {i}" in md and f"test reason {i}" in md
    assert "Scenario hash: not recorded" in md


def test_failed_runs_are_reported(tmp_path: Path, rows: list[dict[str, Any]], no_plots: None) -> None:
    failed = dict(rows[0], status="failed", error="GET /v1/accounts answered 500 five times")
    md = write_reports([failed], tmp_path, {})[0].read_text()
    assert "### Failed runs" in md and "answered 500 five times" in md


def test_rows_without_ground_truth_report_coverage_as_unknown(
    tmp_path: Path, rows: list[dict[str, Any]], hashes: dict[str, str]
) -> None:
    """A real API's rows (null coverage fields) are reported, their coverage shown as unknown."""
    unknown = ("conversations_expected", "conversations_found", "conversations_missed", "overfetched", "coverage")
    blind = [r | dict.fromkeys(unknown) | {"missed": []} for r in rows]
    write_reports(blind, tmp_path, hashes)
    assert "| unknown |" in (tmp_path / "report.md").read_text(encoding="utf-8")
