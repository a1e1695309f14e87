"""Output folders: files are written atomically with the umask's mode, a killed write's hidden temp file
is removed by the next command that writes there, and `--force` removes exactly the files syncbench
writes (those of an earlier sweep included) and nothing else."""

from __future__ import annotations

import os
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.errors import HarnessError
from bench.render.figure import panels, save
from bench.render.report import PLOTS
from bench.results.files import OUTPUT_NAMES, atomic_write, prepare_out

#: files a user keeps in an output folder; syncbench never removes them
THEIRS = ("notes.md", "diagram.png", "results.json.bak", ".mine.tmp", ".notes.md.abcd1234.tmp", "runs/mine.txt")
#: what a kill during a write leaves: hidden temp files of syncbench's own files
LEFTOVERS = (".results.json.k3x9_q2a.tmp", ".pms-1000-time_vs_workers.png.0a1b2c3d.tmp", "runs/.0003.json.zz9yy8xx.tmp")


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


def _touch(folder: Path, names: tuple[str, ...]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("x")


def _names(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path, umask_027: None) -> None:
    atomic_write(tmp_path / "a.json", "{}")
    with panels() as (fig, _):
        save(fig, tmp_path / "a.png")
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ("a.json", "a.png")} == {0o640}
    assert _names(tmp_path) == {"a.json", "a.png"}


def test_a_killed_writes_leftovers_go_with_the_next_command_writing_there(tmp_path: Path) -> None:
    """A folder holding only leftovers counts as empty; a user's own hidden files stay (and make it not empty)."""
    out = tmp_path / "out"
    out.mkdir()
    _touch(out, LEFTOVERS)
    prepare_out(out)
    assert _names(out) == set()
    _touch(out, (*LEFTOVERS, ".mine.tmp"))
    with pytest.raises(HarnessError, match="not empty"):
        prepare_out(out)
    assert _names(out) == {".mine.tmp"}


def test_report_removes_the_leftovers_of_a_killed_drawing(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    base = ["sweep", "--strategies", "client-filter", "--fanouts", "threads", "--workers", "1", "--jobs", "1"]
    assert CliRunner().invoke(app, [*base, "--out", str(out)]).exit_code == 0
    _touch(out, LEFTOVERS[1:2])
    assert CliRunner().invoke(app, ["report", str(out)]).exit_code == 0
    assert not list(out.glob(".*.tmp"))


def test_force_removes_the_files_syncbench_writes_and_no_other(tmp_path: Path) -> None:
    """An earlier sweep's whole output, then a `run --out --force`: only the run's own files and the
    user's are left."""
    out = tmp_path / "sweep"
    base = ["sweep", "--strategies", "client-filter", "--fanouts", "threads", "--workers", "1,2", "--jobs", "1"]
    assert CliRunner().invoke(app, [*base, "--out", str(out)]).exit_code == 0
    written = _names(out)
    assert {"manifest.json", "runs/0000.json", "report.html"} <= written
    assert all(any(fnmatch(Path(n).name, p) for p in OUTPUT_NAMES) or n.startswith("runs/") for n in written)
    _touch(out, (*THEIRS, *LEFTOVERS))
    result = CliRunner().invoke(app, ["run", "--strategy", "client-filter", "--out", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert _names(out) == {"results.json", "results.csv", "host.json", *THEIRS}


def test_every_report_plot_is_a_file_force_removes() -> None:
    """OUTPUT_NAMES names the report's plots by kind; a new plot kind must be added there."""
    for kind, _, _ in PLOTS:
        assert any(fnmatch(f"pms-1000-{kind}.png", pattern) for pattern in OUTPUT_NAMES), kind
