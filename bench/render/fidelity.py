"""The fidelity study's plot (`syncbench fidelity --out`): virtual against real time, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.render import figure
from bench.render.plots import PALETTE
from bench.studies.fidelity import Point

__all__ = ["plot_fidelity"]


def plot_fidelity(points: Sequence[Point], path: Path, title: str) -> Path:
    """Makespan and throttled calls against workers, virtual (solid) and real (dashed), first syncs only."""
    with figure.panels(2, (6.0, 5.0)) as (fig, (time_ax, throttled_ax)):
        series = sorted({(p.strategy, p.fanout) for p in points})
        for i, (strategy, fanout) in enumerate(series):
            mine = sorted(
                (p for p in points if (p.strategy, p.fanout) == (strategy, fanout) and p.sync == 0),
                key=lambda p: p.workers,
            )
            xs = [p.workers for p in mine]
            color = PALETTE[i % len(PALETTE)]
            for side, line in (("virtual", "-"), ("real", "--")):
                rows = [getattr(p, side) for p in mine]
                label = f"{strategy} / {fanout} ({side})"
                time_ax.plot(xs, [r["makespan_s"] for r in rows], line, marker="o", color=color, label=label)
                throttled_ax.plot(xs, [r["rate_limited"] for r in rows], line, marker="o", color=color, label=label)
        ticks = sorted({p.workers for p in points})
        for ax in (time_ax, throttled_ax):
            ax.set_xticks(ticks)
        time_ax.set(xlabel="workers", ylabel="makespan (s)", title=title)
        throttled_ax.set(xlabel="workers", ylabel="throttled calls", title="rate-limited calls")
        time_ax.legend(fontsize="small")
        return figure.save(fig, path)
