"""Result files: atomic writes, the flat CSV form of result rows, host figures, output folders."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import resource
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import IO, Any

import bench
from bench.errors import HarnessError
from bench.scenario.model import Scenario, scenario_hash

__all__ = [
    "OUTPUT_NAMES",
    "atomic_file",
    "atomic_write",
    "csv_text",
    "host_figures",
    "json_text",
    "prepare_out",
    "remove_leftovers",
    "results_document",
    "trace_csv",
]

MAP_PREFIXES = {
    "calls_by_endpoint": "calls",
    "phase_seconds": "phase",
    "pages_by_endpoint": "pages",
    "options": "option",
}


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


#: the plots of a sweep report, drawn as `<scenario>-<kind>.png`
REPORT_PLOTS = ("time_vs_workers", "speedup_vs_workers", "throttled_vs_workers", "calls_per_strategy", "time_by_phase")

#: what syncbench writes into an output folder: `--force` removes these (and a sweep's runs/) and nothing else
OUTPUT_NAMES = (
    "results.json",
    "results.csv",
    "host.json",
    "report.md",
    "report.html",
    "manifest.json",
    "timeline-*.png",
    *(f"*-{kind}.png" for kind in REPORT_PLOTS),
    "scaling.json",
    "scaling.md",
    "scaling.png",
    "faults.json",
    "faults.md",
    "fidelity.json",
    "fidelity.png",
    "recommend.json",
    "recommend.png",
)
RUNS = "runs"  # a sweep's saved runs, runs/NNNN.json
_RUN_FILE = "[0-9][0-9][0-9][0-9].json"
_PROBE = ".syncbench-write-test"


@contextmanager
def atomic_file(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A handle to write `path` through, so that readers see the old file or the new one, never half of one.

    It writes a hidden `.NAME.XXXXXXXX.tmp` beside `path`, created with the umask's mode like any file a
    program writes, and replaces `path` with it when the `with` ends; on any failure the temp file goes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        opened = os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding="utf-8", newline="")
        with opened as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (see `atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(text)


def _ours(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch(name, pattern) for pattern in patterns)


def _leftover(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether `name` is the temp file of an atomic write of one of `patterns`, left by a kill."""
    stem, dot, tail = name.rpartition(".")
    if not (name.startswith(".") and tail == "tmp" and dot):
        return False
    target, _, _random = stem[1:].rpartition(".")
    return _ours(target, patterns)


def remove_leftovers(out: Path) -> None:
    """Remove what a killed syncbench left halfway in `out`: the temp files of its writes, its
    writability probe, an empty runs/. A command that writes into a folder calls this first."""
    for folder, patterns in ((out, OUTPUT_NAMES), (out / RUNS, (_RUN_FILE,))):
        if folder.is_dir():
            for path in folder.iterdir():
                if _leftover(path.name, patterns) or path.name == _PROBE:
                    path.unlink(missing_ok=True)
    _remove_if_empty(out / RUNS)


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _remove_outputs(out: Path) -> None:
    """Remove the files syncbench writes in `out` (`--force`), so no old result stays beside new ones;
    other files stay."""
    for path in out.iterdir():
        if path.is_file() and _ours(path.name, OUTPUT_NAMES):
            path.unlink()
    runs = out / RUNS
    if runs.is_dir():
        for path in runs.glob(_RUN_FILE):
            path.unlink()
    _remove_if_empty(runs)


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in row.items():
        if name in MAP_PREFIXES:
            for key, inner in value.items():
                flat[f"{MAP_PREFIXES[name]}.{key}"] = inner
        elif name == "missed":
            flat[name] = len(value)
        else:
            flat[name] = "" if value is None else value
    return flat


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows flattened: maps become `calls.<endpoint>`, `phase.<name>`, `pages.<endpoint>` and
    `option.<name>` columns; `missed` becomes a count. Column order is fixed by the rows' own order."""
    flats = [flat_row(r) for r in rows]
    columns: list[str] = []
    scalars = [c for c in (rows[0] if rows else {}) if c not in MAP_PREFIXES]
    for name in scalars:
        columns.append(name)
    mapped = sorted({c for f in flats for c in f if c not in columns})
    columns.extend(mapped)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(flats)
    return out.getvalue()


def host_figures(host_seconds: float) -> dict[str, Any]:
    """Figures of the machine that ran the job; never part of the deterministic results."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "host_seconds": round(host_seconds, 3),
        "peak_memory_mib": round(peak_kib / 1024, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def prepare_out(out: Path, *, force: bool = False, resume: bool = False) -> None:
    """Refuse an existing non-empty output folder unless told to overwrite (`force`: the files syncbench
    wrote there are removed first) or to add to it (`resume`); a killed run's leftovers are removed."""
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} exists and is not a folder")
    try:
        remove_leftovers(out)
        if out.exists() and any(out.iterdir()) and not (force or resume):
            raise HarnessError(f"--out {out} is not empty; pass --force to overwrite or --resume to continue")
        if force and out.exists():
            _remove_outputs(out)
        out.mkdir(parents=True, exist_ok=True)
        probe = out / _PROBE
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise HarnessError(f"--out {out} is not writable: {error.strerror or error}") from None


def trace_csv(trace: list[Any]) -> str:
    """The per-request trace as CSV: one line per request, in the order requests finished."""
    out = io.StringIO()
    fields = (
        "start",
        "end",
        "method",
        "endpoint",
        "path",
        "status",
        "bytes",
        "worker",
        "attempt",
        "phase",
        "account",
        "new_connection",
        "throttled",
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    for e in trace:
        writer.writerow([round(e.start, 6), round(e.end, 6), *(getattr(e, f) for f in fields[2:])])
    return out.getvalue()


def results_document(rows: list[dict[str, Any]], scenarios: list[Scenario]) -> dict[str, Any]:
    """The `results.json` document: deterministic, with no host figures."""
    return {
        "syncbench": bench.__version__,
        "scenarios": {s.name: scenario_hash(s) for s in sorted(scenarios, key=lambda s: s.name)},
        "results": rows,
    }
