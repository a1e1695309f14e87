"""PNG plots of result rows and request traces, for the sweep report.

Each function takes rows (or a trace) and a path and writes one PNG through bench.render.figure,
so the same input gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, LogFormatter, NullLocator

from bench.analysis.compare import group_key, group_rows, options_label, settings_label, sort_rows, speedup
from bench.render import figure

__all__ = [
    "calls_per_strategy",
    "speedup_vs_workers",
    "throttled_vs_workers",
    "time_by_phase",
    "time_vs_workers",
    "timeline",
]

Row = dict[str, Any]
PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#d62728",
]
FANOUT_STYLE: dict[str, dict[str, Any]] = {
    "sequential": {"linestyle": "none", "marker": "s", "markersize": 8},
    "threads": {"linestyle": "-", "marker": "o"},
    "async": {"linestyle": "--", "marker": "^"},
}
THROTTLED = "#d62728"
#: y axes switch to a log scale when the largest value is this many times the smallest
LOG_SPREAD = 20.0


def _empty(ax: Axes, what: str) -> None:
    """Say so in the panel rather than leave a blank plot."""
    ax.text(0.5, 0.5, f"no {what} to plot", ha="center", va="center", transform=ax.transAxes)


# --- helpers over rows -------------------------------------------------------------------------


def _scenarios(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """Rows split per scenario, in name order: one panel each."""
    names = sorted({r["scenario"] for r in rows})
    return [(name, [r for r in rows if r["scenario"] == name]) for name in names] or [("", [])]


def _colors(rows: Sequence[Row]) -> dict[str, str]:
    """A fixed colour per strategy (by name order), the same in every plot of the same rows."""
    names = sorted({r["strategy"] for r in rows})
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _line_label(row: Row, rows: Sequence[Row]) -> str:
    """strategy / fan-out, plus options and sync when they tell lines apart."""
    label = f"{row['strategy']} / {row['fanout']}"
    if options_label(row):
        label += f" ({options_label(row)})"
    if len({r.get("sync", 0) for r in rows}) > 1:
        label += f", sync {row.get('sync', 0)}"
    return label


def _mean(values: list[float]) -> float:
    """The mean of repeats (seeds) at one worker count."""
    return sum(values) / len(values)


def _lines(rows: Sequence[Row], value: Callable[[Row], float | None]) -> list[tuple[str, Row, list[int], list[float]]]:
    """(label, first row, workers, mean value) per line; failed runs and missing values are left out."""
    lines = []
    for group in group_rows(rows).values():
        points: dict[int, list[float]] = {}
        for row in group:
            v = value(row) if row.get("status") == "ok" else None
            if v is not None:
                points.setdefault(row["workers"], []).append(v)
        if points:
            xs = sorted(points)
            lines.append((_line_label(group[0], rows), group[0], xs, [_mean(points[x]) for x in xs]))
    return lines


def _worker_axis(ax: Axes, rows: Sequence[Row]) -> None:
    """Ticks at the worker counts that were run, nothing in between."""
    workers = sorted({r["workers"] for r in rows})
    if workers:
        ax.xaxis.set_major_locator(FixedLocator(workers))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("workers (fan-out width)")


def _maybe_log(ax: Axes, values: list[float]) -> bool:
    """Log scale when values span more than LOG_SPREAD times, so small ones stay readable."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > LOG_SPREAD:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))  # "4", not "4 x 10^0"
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        return True
    return False


def _line_plot(
    rows: Sequence[Row],
    path: Path,
    title: str,
    ylabel: str,
    value: Callable[[Row, Sequence[Row]], float | None],
    ideal: bool = False,
    log_ok: bool = True,
) -> Path:
    """One panel per scenario, one line per strategy + fan-out, values against workers."""
    colors = _colors(rows)
    panels = _scenarios(rows)
    with figure.panels(len(panels)) as (fig, axes):
        for ax, (scenario, srows) in zip(axes, panels, strict=True):
            lines = _lines(srows, lambda r, s=srows: value(r, s))  # type: ignore[misc]
            if not lines:
                _empty(ax, "finished runs")
            for label, first, xs, ys in lines:
                ax.plot(
                    xs,
                    ys,
                    label=label,
                    color=colors[first["strategy"]],
                    **FANOUT_STYLE.get(first["fanout"], {"marker": "x"}),
                )
            if ideal and lines:
                top = max(r["workers"] for r in srows)
                ax.plot([1, top], [1, top], color="black", linestyle=":", linewidth=1, label="ideal (linear)")
            log = log_ok and _maybe_log(ax, [y for *_, ys in lines for y in ys])
            _worker_axis(ax, srows)
            ax.set_ylabel(f"{ylabel}, log scale" if log else ylabel)
            ax.set_title(f"{title}\n{scenario}" if scenario else title)
            ax.grid(True, alpha=0.3)
            if lines:
                ax.legend(fontsize="small")
        return figure.save(fig, path)


# --- plots of rows -----------------------------------------------------------------------------


def time_vs_workers(rows: Sequence[Row], path: Path) -> Path:
    """Sync time against workers: where adding workers stops paying."""
    return _line_plot(
        rows, path, "Sync time vs workers", "sync time (simulated seconds)", lambda r, _s: r["makespan_s"]
    )


def speedup_vs_workers(rows: Sequence[Row], path: Path) -> Path:
    """Speedup over the sequential run against workers, with the ideal linear line to measure it by."""
    return _line_plot(
        rows,
        path,
        "Speedup over sequential vs workers",
        "speedup over sequential (x)",
        lambda r, s: speedup(r, s),
        ideal=True,
        log_ok=False,
    )


def throttled_vs_workers(rows: Sequence[Row], path: Path) -> Path:
    """Throttled calls against workers: the worker count at which the rate limit starts to bind."""
    return _line_plot(
        rows,
        path,
        "Throttled calls vs workers",
        "throttled calls (429 or equivalent, count)",
        lambda r, _s: float(r["rate_limited"]),
        log_ok=False,
    )


def _bar_labels(rows: Sequence[Row]) -> list[str]:
    """Two-line tick labels: strategy over settings."""
    return [f"{r['strategy']}\n{settings_label(r)}" for r in rows]


def _bar_axis(ax: Axes, rows: Sequence[Row]) -> None:
    """Readable bar tick labels even with a dozen runs."""
    ax.set_xticks(range(len(rows)), _bar_labels(rows), rotation=45, ha="right", fontsize="small")
    ax.set_xlabel("run (strategy, fan-out x workers)")


def _bar_size(rows: Sequence[Row]) -> tuple[float, float]:
    """Panels widen with the number of bars so labels do not collide."""
    per_scenario = max((len(s) for _, s in _scenarios(rows)), default=1)
    return max(figure.PANEL_SIZE[0], 0.7 * per_scenario + 2.0), figure.PANEL_SIZE[1] + 1.5


def _stacked(ax: Axes, rows: Sequence[Row], field: str, colors: dict[str, str]) -> float:
    """Stack each row's `field` map as bars; returns the tallest stack."""
    keys = sorted({k for r in rows for k in r.get(field, {})})
    bottoms = [0.0] * len(rows)
    for key in keys:
        heights = [float(r.get(field, {}).get(key, 0)) for r in rows]
        ax.bar(range(len(rows)), heights, bottom=bottoms, label=key, color=colors[key], edgecolor="white")
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    return max(bottoms, default=0.0)


def _over_seeds(rows: Sequence[Row]) -> tuple[list[Row], int]:
    """One bar per run setting: rows that differ only in their seed become one row whose figures are
    their means; with the number of seeds averaged (1: the rows as they are)."""
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for r in rows:
        groups.setdefault((*group_key(r), r["workers"], r.get("account_workers", 1)), []).append(r)
    seeds = max((len(g) for g in groups.values()), default=1)
    if seeds == 1:
        return list(rows), 1
    merged = []
    for group in groups.values():
        row = dict(group[0])
        for field in ("api_calls", "rate_limited", "makespan_s"):
            row[field] = sum(r[field] for r in group) / len(group)
        for field in ("calls_by_endpoint", "phase_seconds"):
            keys = sorted({k for r in group for k in r.get(field, {})})
            row[field] = {k: sum(r.get(field, {}).get(k, 0) for r in group) / len(group) for k in keys}
        merged.append(row)
    return merged, seeds


def _mean_of(seeds: int) -> str:
    return f" (mean of {seeds} seeds)" if seeds > 1 else ""


def _count(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _key_colors(rows: Sequence[Row], field: str) -> dict[str, str]:
    """A fixed colour per endpoint or phase name, by name order."""
    keys = sorted({k for r in rows for k in r.get(field, {})})
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}


def calls_per_strategy(rows: Sequence[Row], path: Path) -> Path:
    """API calls per run, stacked by endpoint, with the throttled count on top: what each strategy costs.
    A sweep over seeds draws the mean of its seeds."""
    rows, seeds = _over_seeds(rows)
    panels = _scenarios(rows)
    colors = _key_colors(rows, "calls_by_endpoint")
    with figure.panels(len(panels), _bar_size(rows)) as (fig, axes):
        for ax, (scenario, srows) in zip(axes, panels, strict=True):
            ordered = sort_rows(srows)
            if not ordered:
                _empty(ax, "runs")
            top = _stacked(ax, ordered, "calls_by_endpoint", colors)
            for i, row in enumerate(ordered):
                note = _count(row["api_calls"]) + (
                    f"\n{_count(row['rate_limited'])} throttled" if row["rate_limited"] else ""
                )
                ax.text(
                    i,
                    row["api_calls"] + top * 0.01,
                    note,
                    ha="center",
                    va="bottom",
                    fontsize="x-small",
                    color=THROTTLED if row["rate_limited"] else "black",
                )
            ax.set_ylim(0, top * 1.15 or 1)
            _bar_axis(ax, ordered)
            ax.set_ylabel("API calls (count)")
            ax.set_title(f"API calls per run, by endpoint{_mean_of(seeds)}\n{scenario}")
            if ordered:
                ax.legend(title="endpoint", fontsize="small")
        return figure.save(fig, path)


def time_by_phase(rows: Sequence[Row], path: Path) -> Path:
    """Seconds spent in each phase per run, against the run's makespan: which phase workers do not shorten.
    A sweep over seeds draws the mean of its seeds."""
    rows, seeds = _over_seeds(rows)
    panels = _scenarios(rows)
    colors = _key_colors(rows, "phase_seconds")
    with figure.panels(len(panels), _bar_size(rows)) as (fig, axes):
        for ax, (scenario, srows) in zip(axes, panels, strict=True):
            ordered = sort_rows(srows)
            if not ordered:
                _empty(ax, "runs")
            _stacked(ax, ordered, "phase_seconds", colors)
            ax.scatter(
                range(len(ordered)),
                [r["makespan_s"] for r in ordered],
                marker="_",
                s=400,
                color="black",
                linewidths=2,
                zorder=3,
                label="makespan (wall time of the sync)",
            )
            _bar_axis(ax, ordered)
            ax.set_ylabel("time in phase (simulated seconds)")
            ax.set_title(
                f"Time by phase{_mean_of(seeds)} (phases may overlap, so a stack can exceed the makespan)\n{scenario}"
            )
            if ordered:
                ax.legend(title="phase", fontsize="small")
        return figure.save(fig, path)


# --- the request timeline ----------------------------------------------------------------------


def _field(entry: Any, name: str) -> Any:
    """A trace entry's field, whether it is a TraceEntry or its dict form (e.g. from JSON)."""
    return entry[name] if isinstance(entry, dict) else getattr(entry, name)


def _natural(name: str) -> list[Any]:
    """Sort key so worker w2 comes before w10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def _in_flight(trace: Sequence[Any]) -> tuple[list[float], list[int]]:
    """Requests in flight over time, as the steps of a step plot."""
    deltas: dict[float, int] = {}
    for e in trace:
        deltas[_field(e, "start")] = deltas.get(_field(e, "start"), 0) + 1
        deltas[_field(e, "end")] = deltas.get(_field(e, "end"), 0) - 1
    times, counts, level = [0.0], [0], 0
    for t in sorted(deltas):  # one step per instant: a request ending as the next starts is no dip
        level += deltas[t]
        times.append(t)
        counts.append(level)
    return times, counts


def _timeline_title(trace: Sequence[Any], lanes: list[str]) -> str:
    """A title that states what the lanes show, with the run's own figures."""
    throttled = sum(1 for e in trace if _field(e, "throttled"))
    retries = sum(1 for e in trace if _field(e, "attempt") > 1)
    span = max((_field(e, "end") for e in trace), default=0.0)
    return (
        f"Request timeline: {len(trace)} requests on {len(lanes)} workers over {span:.2f} s"
        f" ({throttled} throttled, {retries} retries)"
    )


def timeline(trace: Sequence[Any], path: Path, title: str | None = None) -> Path:
    """One lane per worker, a bar per request coloured by phase, throttled and retried calls marked,
    and requests in flight below: shows where workers sit idle or wait on the rate limit."""
    lanes = sorted({_field(e, "worker") for e in trace}, key=_natural)
    phases = sorted({_field(e, "phase") or "other" for e in trace})
    colors = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(phases)}
    height = max(4.0, 0.28 * len(lanes) + 2.5)
    with figure.canvas(12.0, height + 2.0) as fig:
        lane_ax, flight_ax = fig.subplots(2, 1, sharex=True, height_ratios=[height, 2.0])
        _draw_lanes(lane_ax, trace, lanes, colors)
        times, counts = _in_flight(trace)
        flight_ax.step(times, counts, where="post", color="black", linewidth=1)
        flight_ax.set_ylabel("in flight\n(requests)")
        flight_ax.set_xlabel("simulated time since the sync started (seconds)")
        flight_ax.grid(True, alpha=0.3)
        lane_ax.set_title(title or _timeline_title(trace, lanes))
        handles: list[Artist] = [Patch(facecolor=colors[p], label=f"phase: {p}") for p in phases]
        handles.append(Patch(facecolor=THROTTLED, hatch="xxx", edgecolor="black", label="throttled (429)"))
        handles.append(Line2D([], [], marker="v", linestyle="none", color="black", label="retry (attempt > 1)"))
        lane_ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if not trace:
            _empty(lane_ax, "requests")
        return figure.save(fig, path)


def _draw_lanes(ax: Axes, trace: Sequence[Any], lanes: list[str], colors: dict[str, str]) -> None:
    """The lanes themselves: bars per request, hatching for throttled ones, a marker per retry."""
    index = {lane: i for i, lane in enumerate(lanes)}
    for phase, color in colors.items():
        for throttled in (False, True):
            spans = [
                (_field(e, "start"), _field(e, "end") - _field(e, "start"), index[_field(e, "worker")])
                for e in trace
                if (_field(e, "phase") or "other") == phase and bool(_field(e, "throttled")) == throttled
            ]
            for lane in sorted({s[2] for s in spans}):
                bars = [(s[0], s[1]) for s in spans if s[2] == lane]
                ax.broken_barh(
                    bars,
                    (lane - 0.4, 0.8),
                    facecolors=THROTTLED if throttled else color,
                    hatch="xxx" if throttled else None,
                    edgecolor="black" if throttled else "none",
                    linewidth=0.3,
                )
    retries = [e for e in trace if _field(e, "attempt") > 1]
    ax.scatter(
        [_field(e, "start") for e in retries],
        [index[_field(e, "worker")] - 0.55 for e in retries],
        marker="v",
        color="black",
        s=18,
        zorder=3,
    )
    ax.set_yticks(range(len(lanes)), lanes, fontsize="x-small" if len(lanes) > 12 else "small")
    ax.set_ylim(len(lanes) - 0.4, -0.8)
    ax.set_ylabel("worker")
    ax.grid(True, axis="x", alpha=0.3)
