"""The scaling study: resized worlds, growth exponents, and the written study."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.render.scale import write_study
from bench.scenario.model import load_scenario
from bench.studies.scale import ScalePoint, growth, resize, study


def _points(strategy: str, values: dict[int, float]) -> list[ScalePoint]:
    return [ScalePoint(n, strategy, v, v, v, int(v), 1.0, "ok") for n, v in values.items()]


@pytest.mark.parametrize(
    ("values", "exponent"),
    [
        pytest.param({1000: 1.0, 10000: 10.0, 100000: 100.0}, 1.0, id="linear"),
        pytest.param({1000: 1.0, 10000: 100.0}, 2.0, id="quadratic"),
        pytest.param({1000: 5.0, 10000: 5.0, 100000: 5.0}, 0.0, id="flat"),
    ],
)
def test_growth_is_the_log_log_slope(values: dict[int, float], exponent: float) -> None:
    """`growth` recovers k in value ~ size^k, and gives the same answer twice."""
    points = _points("s", values)
    assert growth(points, "s", "host_seconds") == pytest.approx(exponent)
    assert growth(points, "s", "host_seconds") == growth(points, "s", "host_seconds")


def test_growth_needs_two_sizes() -> None:
    """One size says nothing about growth."""
    assert growth(_points("s", {1000: 1.0}), "s", "host_seconds") is None


def test_resize_scales_data_and_caps_activity() -> None:
    """A resized world keeps its orphan share and never asks for more activity than data."""
    small = resize(load_scenario("pms-1000"), 100)
    assert small.dataset.conversations == 100 and small.dataset.orphans == 1
    assert small.activity.active <= 10 and small.name == "pms-1000-100"


def test_study_runs_each_point_and_writes_its_report(tmp_path: Path) -> None:
    """Two sizes, two strategies: four points, a table, a growth line per strategy, and a plot."""
    points = study(load_scenario("pms-1000"), [100, 400], ["client-filter", "full-pagination"], "async", 5, jobs=2)
    assert [(p.size, p.strategy) for p in points] == [
        (100, "client-filter"),
        (100, "full-pagination"),
        (400, "client-filter"),
        (400, "full-pagination"),
    ]
    assert all(p.status == "ok" and p.peak_mib > 0 for p in points)
    full = [p.api_calls for p in points if p.strategy == "full-pagination"]
    assert full[1] > 3 * full[0]
    written = write_study(points, tmp_path, "pms-1000")
    text = (tmp_path / "scaling.md").read_text()
    assert "**full-pagination**" in text and "| 400 |" in text
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(written) == 3


def test_a_study_written_into_a_sweep_folder_joins_its_report(tmp_path: Path) -> None:
    """`syncbench scale --out SWEEP` leaves results.json alone and adds the study to report.md and report.html."""
    from typer.testing import CliRunner

    from bench.cli.main import app

    runner = CliRunner()
    sweep = runner.invoke(
        app,
        ["sweep", "--strategies", "client-filter", "--fanouts", "async", "--workers", "1,5", "--out", str(tmp_path)],
    )
    assert sweep.exit_code == 0, sweep.output
    results = (tmp_path / "results.json").read_bytes()
    assert "Scaling study" not in (tmp_path / "report.md").read_text()
    scale = runner.invoke(
        app,
        [
            "scale",
            "--scenario",
            "pms-1000",
            "--sizes",
            "100,200",
            "--strategies",
            "client-filter",
            "--out",
            str(tmp_path),
        ],
    )
    assert scale.exit_code == 0, scale.output
    assert (tmp_path / "results.json").read_bytes() == results
    report = (tmp_path / "report.md").read_text()
    assert "## Scaling study: pms-1000" in report and "| 200 | client-filter |" in report
    assert "![scaling](scaling.png)" in report
    assert 'alt="scaling"' in (tmp_path / "report.html").read_text()
