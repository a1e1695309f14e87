"""Reports from result rows: report.md, a self-contained report.html and the PNG plots, written atomically.

Everything in a report comes from the rows (and, for timelines, the traces) it is given: the
same rows give byte-identical files. The one exception is a scaling study (`syncbench scale`)
written into the same folder: its host figures come from its own scaling.json. `load_results`
reads a results.json back, so reports can be rebuilt from a finished run's folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.analysis import compare
from bench.render import plots
from bench.render.document import Block, Bullets, Heading, Image, Para, Table, render_html, render_markdown
from bench.render.scale import study_blocks
from bench.results.documents import ResultsDocument, load_document
from bench.results.files import atomic_write
from bench.run.pool import run_all
from bench.studies.scale import load_study

__all__ = ["load_results", "write_reports"]

Row = dict[str, Any]
PLOTS: tuple[tuple[str, str, Callable[[Sequence[Row], Path], Path]], ...] = (
    ("time_vs_workers", "Sync time vs workers", plots.time_vs_workers),
    ("speedup_vs_workers", "Speedup over sequential vs workers", plots.speedup_vs_workers),
    ("throttled_vs_workers", "Throttled calls vs workers", plots.throttled_vs_workers),
    ("calls_per_strategy", "API calls per run, by endpoint", plots.calls_per_strategy),
    ("time_by_phase", "Time by phase", plots.time_by_phase),
)


# --- formatting of figures ---------------------------------------------------------------------


def _coverage(entry: dict[str, Any]) -> str:
    """Coverage with its counts, or "unknown" for a run without ground truth (a real API)."""
    if entry["coverage"] is None:
        return "unknown"
    return f"{entry['coverage']:.1%} ({entry['found']}/{entry['expected']})"


def _speedup(x: float | None) -> str:
    """A speedup, or a dash when there is no sequential run to compare with."""
    return "–" if x is None else f"{x:.1f}x"


def _summary_table(entries: list[dict[str, Any]]) -> Table:
    """The per-scenario summary, with optional columns only when they vary."""
    optional = [
        ("Accounts at once", "account_workers"),
        ("Seed", "seed"),
        ("Sync", "sync"),
        ("Options", "options"),
        ("Status", "status"),
    ]
    shown = [
        (h, k)
        for h, k in optional
        if len({e[k] for e in entries}) > 1 or (k == "status" and any(e["status"] != "ok" for e in entries))
    ]
    headers = [
        "Strategy",
        "Fan-out",
        "Workers",
        *(h for h, _ in shown),
        "Time (s)",
        "Speedup vs sequential",
        "API calls",
        "Throttled calls",
        "Coverage",
        "Missed",
        "Over-fetched",
        "Lower bound (s)",
        "Efficiency",
    ]
    numeric = [False, False, True, *(k in ("account_workers", "seed", "sync") for _, k in shown), *([True] * 9)]
    body = tuple(
        (
            e["strategy"],
            e["fanout"],
            str(e["workers"]),
            *(str(e[k]) for _, k in shown),
            f"{e['time_s']:.3f}",
            _speedup(e["speedup"]),
            str(e["calls"]),
            str(e["throttled"]),
            _coverage(e),
            str(e["missed"]),
            str(e["overfetched"]),
            f"{e['lower_bound_s']:.3f}",
            f"{e['efficiency']:.0%}",
        )
        for e in entries
    )
    return Table(tuple(headers), body, tuple(numeric))


def _missed_block(rows: Sequence[Row]) -> Block:
    """Every missed conversation, by id, with its reason and the runs that missed it."""
    misses = compare.missed_conversations(rows)
    if not misses:
        return Para("No run missed a conversation: every expected conversation was stored with all its new messages.")
    return Bullets(
        tuple(
            (f"conversation {m['id']}", f"missed by {m['strategy']} ({'; '.join(m['settings'])}): {m['reason']}")
            for m in misses
        )
    )


def _differences_block(rows: Sequence[Row]) -> Block:
    """The pairwise explanations, with identical explanations at several settings said once."""
    merged: dict[tuple[str, str, str], list[str]] = {}
    for d in compare.explain_differences(rows):
        merged.setdefault((d["first"], d["second"], d["text"]), []).append(d["settings"])
    if not merged:
        return Para("Only one strategy ran at each setting, so there is no pair to compare.")
    return Bullets(
        tuple((f"{first} vs {second} ({'; '.join(labels)}):", text) for (first, second, text), labels in merged.items())
    )


def _failed_block(rows: Sequence[Row]) -> list[Block]:
    """Runs that failed, with the recorded reason; nothing when all finished."""
    failed = [r for r in compare.sort_rows(rows) if r.get("status") != "ok"]
    if not failed:
        return []
    return [
        Heading(3, "Failed runs"),
        Bullets(tuple((compare.row_label(r), f"failed: {r.get('error') or 'no reason recorded'}") for r in failed)),
    ]


def _bullets_or(items: Sequence[str], empty: str) -> Block:
    """Plain bullets, or a sentence saying why there are none."""
    return Bullets(tuple(("", s) for s in items)) if items else Para(empty)


def _scenario_blocks(name: str, rows: Sequence[Row], digest: str | None, images: list[tuple[str, str]]) -> list[Block]:
    """Everything the report says about one scenario."""
    ratios = [r["text"] for r in compare.faster_ratios(rows)]
    return [
        Heading(2, f"Scenario {name}"),
        Para(f"Scenario hash: {digest or 'not recorded'}. {len(rows)} runs; all times are simulated seconds."),
        Heading(3, "Summary"),
        _summary_table(compare.summary_tables(rows).get(name, [])),
        Para(
            "Speedup is over the same strategy's sequential run (or, without one, its own fan-out at 1 worker);"
            " coverage is conversations stored with all new messages over those expected; efficiency is the"
            " lower bound over the time."
        ),
        Heading(3, "Strategies compared"),
        _bullets_or(ratios, "Only one strategy ran at each setting."),
        *_failed_block(rows),
        Heading(3, "Missed conversations"),
        _missed_block(rows),
        Heading(3, "Why the strategies differ"),
        _differences_block(rows),
        Heading(3, "Why more workers are not proportionally faster"),
        _bullets_or(compare.scaling_notes(rows), "No strategy ran in parallel at more than one setting."),
        Heading(3, "Plots"),
        *(Image(alt, file) for alt, file in images),
    ]


# --- files -------------------------------------------------------------------------------------


def _slug(name: str, taken: set[str]) -> str:
    """A file-name-safe, unique form of a scenario name or trace label."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _scenario_plots(name: str, rows: Sequence[Row], out: Path, slug: str) -> list[tuple[str, partial[Path]]]:
    """The five row plots of one scenario, to draw: (title, drawing)."""
    return [(f"{title} ({name})", partial(fn, rows, out / f"{slug}-{kind}.png")) for kind, title, fn in PLOTS]


def _timeline_blocks(
    traces: Mapping[str, Sequence[Any]], out: Path, taken: set[str]
) -> tuple[list[Block], list[partial[Path]]]:
    """A request timeline per given trace, in label order, and the drawings they need."""
    if not traces:
        return [], []
    blocks: list[Block] = [
        Heading(2, "Request timelines"),
        Para(
            "One lane per worker, one bar per request coloured by phase; hatched red bars were throttled and"
            " triangles mark retries. The lower panel counts requests in flight: where it sags, workers wait."
        ),
    ]
    drawings = []
    for label in sorted(traces):
        path = out / f"timeline-{_slug(label, taken)}.png"
        drawings.append(partial(plots.timeline, traces[label], path, title=f"Requests: {label}"))
        blocks += [Heading(3, label), Image(f"Request timeline: {label}", path.name)]
    return blocks, drawings


def _draw(drawings: list[partial[Path]], jobs: int) -> list[Path]:
    """Draw the PNGs, in `jobs` processes when there are several: matplotlib draws on one core, and
    drawing is most of a sweep report's time."""
    return run_all(drawings, jobs=jobs)


def _write_documents(blocks: list[Block], out: Path, paths: Sequence[Path]) -> list[Path]:
    """report.md and report.html from the blocks; the PNGs are already on disk."""
    md, page = out / "report.md", out / "report.html"
    atomic_write(md, render_markdown(blocks))
    images = {p.name: p.read_bytes() for p in paths}
    atomic_write(page, render_html(blocks, images, "syncbench report"))
    return [md, page, *paths]


def write_reports(
    rows: list[Row],
    out: Path,
    scenario_hashes: dict[str, str],
    *,
    traces: Mapping[str, Sequence[Any]] | None = None,
    jobs: int = 1,
) -> list[Path]:
    """Write report.md, report.html and the plots into `out`; returns the files written.

    `traces` (optional) maps a label such as "reservation-early-stop threads x20" to that run's
    trace, drawn as a request timeline. The plots are drawn in `jobs` processes.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scenarios = sorted({r["scenario"] for r in rows})
    blocks: list[Block] = [
        Heading(1, "syncbench report"),
        Para(
            f"{len(rows)} result rows over {len(scenarios)} scenario(s): {', '.join(scenarios) or 'none'}."
            " Every figure below comes from the rows: time from the simulated clock, calls and throttling from"
            " the request trace, coverage from what the store holds against the ground truth."
        ),
    ]
    taken: set[str] = {"report", "timeline"}
    drawings: list[partial[Path]] = []
    for name in scenarios:
        srows = [r for r in rows if r["scenario"] == name]
        made = _scenario_plots(name, srows, out, _slug(name, taken))
        drawings += [draw for _, draw in made]
        images = [(title, draw.args[-1].name) for title, draw in made]
        blocks += _scenario_blocks(name, srows, scenario_hashes.get(name), images)
    timeline_blocks, timeline_drawings = _timeline_blocks(traces or {}, out, taken)
    blocks += timeline_blocks
    paths = _draw(drawings + timeline_drawings, jobs)
    scaling = _scaling_blocks(out)
    if scaling:
        blocks += scaling
        paths.append(out / "scaling.png")
    return _write_documents(blocks, out, paths)


def _scaling_blocks(out: Path) -> list[Block]:
    """The scaling study (`syncbench scale --out` into the same folder), when the folder holds one.
    Its host figures come from scaling.json, not from the rows."""
    study = load_study(out)
    if study is None or not (out / "scaling.png").exists():
        return []
    points, title = study
    return study_blocks(points, title)


# --- reading results back ---------------------------------------------------------------------


def load_results(path: Path) -> dict[str, Any]:
    """Read a results.json (or a folder holding one) for `syncbench report`; HarnessError in one line if unusable."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    missing = "want a results.json written by `syncbench run --out` or `syncbench sweep`"
    return dict(load_document(path, ResultsDocument, what="results document", missing=missing))
