"""bench.render.figure: every PNG is saved once, one way: deterministic bytes, atomic, nothing left on failure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from matplotlib.artist import Artist
from PIL import Image

from bench.render import figure, plots
from bench.render.fidelity import plot_fidelity
from bench.render.recommend import plot_recommendation
from bench.render.report import PLOTS
from bench.render.scale import plot_scaling
from bench.studies import fidelity, recommend
from bench.studies.scale import ScalePoint


class Broken(Artist):
    """An artist whose drawing fails halfway through saving a figure."""

    def draw(self, renderer: Any) -> None:
        raise RuntimeError("drawing failed")


def _line(path: Path) -> Path:
    with figure.panels(2) as (fig, (left, right)):
        left.plot([1, 2, 3], [3, 1, 2], label="a line")
        right.bar([0, 1], [2, 5])
        return figure.save(fig, path)


def test_the_same_figure_gives_the_same_bytes_without_the_software_stamp(tmp_path: Path) -> None:
    first, second = _line(tmp_path / "a.png"), _line(tmp_path / "b" / "a.png")
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert image.format == "PNG" and image.size == (1600, 500) and "Software" not in image.info
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b"]


def test_a_failing_drawing_leaves_no_file_behind(tmp_path: Path) -> None:
    with figure.panels() as (fig, _), pytest.raises(RuntimeError, match="drawing failed"):
        fig.add_artist(Broken())
        figure.save(fig, tmp_path / "broken.png")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_drawing_keeps_the_previous_png(tmp_path: Path) -> None:
    old = _line(tmp_path / "plot.png").read_bytes()
    with figure.panels() as (fig, _), pytest.raises(RuntimeError):
        fig.add_artist(Broken())
        figure.save(fig, tmp_path / "plot.png")
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]
    assert (tmp_path / "plot.png").read_bytes() == old


# --- every plot goes through the one saver ------------------------------------------------------


def _row(strategy: str, fanout: str, workers: int, makespan: float) -> dict[str, Any]:
    return {
        "scenario": "s",
        "strategy": strategy,
        "fanout": fanout,
        "workers": workers,
        "account_workers": 1,
        "seed": 1,
        "sync": 0,
        "options": {},
        "status": "ok",
        "makespan_s": makespan,
        "api_calls": 10,
        "rate_limited": 1,
        "calls_by_endpoint": {"/a": 6, "/b": 4},
        "phase_seconds": {"list": makespan / 2, "fetch": makespan / 2},
    }


ROWS = [_row("x", "sequential", 1, 8.0), _row("x", "threads", 4, 3.0), _row("y", "threads", 4, 2.0)]
TRACE = [
    {"worker": "w1", "start": 0.0, "end": 0.5, "phase": "list", "throttled": False, "attempt": 1},
    {"worker": "w2", "start": 0.2, "end": 0.6, "phase": "fetch", "throttled": True, "attempt": 2},
]


def _recommendation() -> dict[str, Any]:
    points = [recommend.Point(n, "ok", 10.0 / n**0.8, 100, 0, 0, 0.0, 100 / (10.0 / n**0.8)) for n in (1, 2, 4, 8, 16)]
    chosen = recommend.recommend(points, margin=0.05, max_throttled=0.01)
    return recommend.recommendation_document(chosen, {"strategy": "x", "fanout": "threads", "scenario": "s"})


def _fidelity() -> list[fidelity.Point]:
    return [
        fidelity.Point(
            "x", "threads", n, 0, {"makespan_s": 4.0 / n, "rate_limited": 0}, {"makespan_s": 4.1 / n, "rate_limited": 1}
        )
        for n in (1, 5)
    ]


DRAWINGS: dict[str, Callable[[Path], Path]] = {
    **{kind: (lambda path, draw=draw: draw(ROWS, path)) for kind, _, draw in PLOTS},
    "timeline": lambda path: plots.timeline(TRACE, path),
    "scaling": lambda path: plot_scaling(
        [ScalePoint(n, "x", n / 1e3, 90.0, n / 10, n, 1.0, "ok") for n in (100, 1000)], path
    ),
    "recommend": lambda path: plot_recommendation(_recommendation(), path),
    "fidelity": lambda path: plot_fidelity(_fidelity(), path, "s: virtual vs real"),
}


@pytest.mark.parametrize("name", sorted(DRAWINGS))
def test_every_plot_saves_through_the_one_saver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """With the saver failing, no plot writes a file any other way."""
    saved: list[Path] = []

    def failing(fig: Any, path: Path) -> Path:
        saved.append(path)
        raise OSError("disk full")

    monkeypatch.setattr(figure, "save", failing)
    with pytest.raises(OSError, match="disk full"):
        DRAWINGS[name](tmp_path / f"{name}.png")
    assert saved == [tmp_path / f"{name}.png"]
    assert list(tmp_path.iterdir()) == []


def test_the_plots_draw(tmp_path: Path) -> None:
    """The same inputs, drawn for real: one PNG each, and no temp file left."""
    for name, draw in DRAWINGS.items():
        assert draw(tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.png" for name in DRAWINGS)


def test_drawing_stays_in_bench_render() -> None:
    """The studies draw nothing, and syncbench starts without matplotlib (the commands that draw load it)."""
    code = (
        "import sys, bench.cli, bench.studies.faults, bench.studies.fidelity, bench.studies.gate,"
        " bench.studies.recommend, bench.studies.scale, bench.studies.selftest;"
        " sys.exit(' '.join(m for m in sys.modules if m.split('.')[0] == 'matplotlib') or None)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
