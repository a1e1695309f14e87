"""`syncbench fidelity`: virtual time vs real sockets side by side, and the arithmetic of its errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.studies.fidelity import BOUND_TARGET, FREE_TARGET, Point, alignment, relative_error
from bench.transport.trace import TraceEntry
from tests.serve.test_server import tiny_scenario


@pytest.mark.parametrize(
    ("real", "virtual", "expected"),
    [(1.1, 1.0, 0.1), (0.9, 1.0, -0.1), (12, 10, 0.2), (0, 0, 0.0), (3, 0, None), (None, 1.0, None), (1.0, None, None)],
)
def test_relative_error_is_against_the_virtual_figure(real: Any, virtual: Any, expected: float | None) -> None:
    assert relative_error(real, virtual) == (pytest.approx(expected) if expected is not None else None)


def _row(makespan: float, calls: int = 50, throttled: int = 0, coverage: float = 1.0) -> dict[str, Any]:
    return {
        "status": "ok",
        "makespan_s": makespan,
        "api_calls": calls,
        "rate_limited": throttled,
        "retries": throttled,
        "coverage": coverage,
        "connections": 5,
        "peak_concurrency": 5,
    }


def test_targets_depend_on_whether_the_limit_binds() -> None:
    free = Point("client-filter", "threads", 5, 0, _row(10.0), _row(10.9))
    assert not free.binds and free.target == FREE_TARGET and free.problems() == []
    assert Point("s", "threads", 5, 0, _row(10.0), _row(11.2)).problems() == ["makespan off > 10%"]
    bound = Point("s", "async", 20, 0, _row(10.0, 60, 10), _row(11.5, 64, 14))
    assert bound.binds and bound.target == BOUND_TARGET and bound.problems() == []
    assert "calls differ" in Point("s", "async", 5, 0, _row(10.0, 50), _row(10.0, 51)).problems()
    assert "coverage differs" in Point("s", "async", 5, 0, _row(10.0), _row(10.0, coverage=0.9)).problems()
    assert bound.as_dict()["relative_error"]["rate_limited"] == pytest.approx(0.4)


def _entry(path: str, start: float, *, new: bool = False, throttled: bool = False) -> TraceEntry:
    return TraceEntry(
        start,
        start + 0.1,
        "GET",
        "messages",
        path,
        429 if throttled else 200,
        10,
        "w0",
        1,
        "messages",
        "acc-1",
        new,
        throttled,
    )


def test_alignment_counts_requests_pushed_into_another_window() -> None:
    virtual = [
        _entry("/a", 0.0, new=True),
        _entry("/b", 0.70, new=True),
        _entry("/c", 0.80, new=True),
        _entry("/d", 1.2, throttled=True),
    ]
    real = [
        _entry("/a", 0.001, new=True),
        _entry("/b", 0.73, new=True),
        _entry("/c", 0.88, new=True),
        _entry("/d", 1.25, throttled=True),
    ]
    drift = alignment(virtual, real, window_s=1.0, connect_s=0.15)
    # /c is handled at 1.03 instead of 0.95: one first attempt crossed into the next window
    assert drift["first_attempts_in_another_window"] == 1 and drift["matched"] == 4
    assert drift["lag_at_first_throttle_s"] == pytest.approx(0.08)
    assert drift["final_lag_s"] == pytest.approx(0.05)
    assert "first_attempts_in_another_window" not in alignment(virtual, real, window_s=None, connect_s=0.15)


def test_a_small_fidelity_run_completes_and_computes_its_errors(tmp_path: Path) -> None:
    scenario = tiny_scenario(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "fidelity",
            "--scenario",
            str(scenario),
            "--strategy",
            "client-filter",
            "--fanout",
            "threads",
            "--workers",
            "1,4",
            "--time-scale",
            "0.5",
            "--out",
            str(out),
            "--json",
        ],
    )
    document = json.loads((out / "fidelity.json").read_text())
    assert json.loads(result.stdout) == document
    assert document["time_scale"] == 0.5 and document["scenario"] == "tiny-real"
    points = document["points"]
    assert [p["workers"] for p in points] == [1, 4]
    for p in points:
        for figure, error in p["relative_error"].items():
            assert error == relative_error(p["real"][figure], p["virtual"][figure]), figure
        assert p["real"]["api_calls"] == p["virtual"]["api_calls"]
        assert p["real"]["coverage"] == p["virtual"]["coverage"] == 1.0
        assert p["real"]["makespan_s"] > 0.9 * p["virtual"]["makespan_s"]
        assert p["alignment"]["matched"] == p["virtual"]["api_calls"]
    assert points[1]["virtual"]["makespan_s"] < points[0]["virtual"]["makespan_s"]  # more workers help here
    # exit 1 only when a point misses its target (wall time on a busy machine may)
    assert result.exit_code == (1 if any(p["problems"] for p in points) else 0), result.output
    assert (out / "fidelity.png").stat().st_size > 0 and (out / "host.json").exists()


def test_fidelity_refuses_bad_input_in_one_line() -> None:
    """One strategy and one fan-out per run (the Contracts' `--strategy`, `--fanout`); worker counts are a list."""
    for args, message in (
        (["--workers", "0"], "positive"),
        (["--workers", "1,x"], "--workers"),
        (["--strategy", "nope"], "unknown strategy"),
        (["--strategy", "client-filter,full-pagination"], "unknown strategy"),
        (["--fanout", "fast"], "--fanout"),
        (["--fanout", "threads,async"], "--fanout"),
    ):
        result = CliRunner().invoke(app, ["fidelity", *args])
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1
