"""Result files: atomic writes, the flat CSV form of result rows, host figures, output folders."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

import bench
from bench.errors import HarnessError
from bench.scenario.model import Scenario, scenario_hash

__all__ = ["atomic_write", "csv_text", "host_figures", "json_text", "prepare_out", "results_document", "trace_csv"]

MAP_PREFIXES = {
    "calls_by_endpoint": "calls",
    "phase_seconds": "phase",
    "pages_by_endpoint": "pages",
    "options": "option",
}


def json_text(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """Refuse an existing non-empty output folder unless told to overwrite or resume it."""
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (force or resume):
        raise HarnessError(f"--out {out} is not empty; pass --force to overwrite or --resume to continue")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".syncbench-write-test"
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
