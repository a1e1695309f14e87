"""The recommendation's plot (`syncbench recommend --out`): why that worker default, in two panels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.analysis.usl import usl_throughput
from bench.render import figure

__all__ = ["plot_recommendation"]


def plot_recommendation(document: dict[str, Any], path: Path) -> Path:
    """Throughput vs workers (measured, USL curve, ceiling, the default) beside time vs workers (margin band)."""
    points = document["points"]
    usl, chosen = document["usl"], document["recommended_workers"]
    ok = [p for p in points if p["qualifies"]]
    bad = [p for p in points if not p["qualifies"]]
    settings = document["settings"]
    with figure.panels(2) as (fig, (left, right)):
        xs = [p["workers"] for p in points]
        top = max(xs) if xs else 1
        if usl.get("lambda") is not None:
            grid = np.linspace(1, top, 400)
            curve = usl_throughput(grid, usl["lambda"], usl["sigma"], usl["kappa"])
            fitted = f"USL fit (sigma {usl['sigma']:.3g}, kappa {usl['kappa']:.3g})"
            left.plot(grid, curve, color="#1f77b4", label=fitted)
        left.plot(
            [p["workers"] for p in ok],
            [p["throughput"] for p in ok],
            "o",
            color="#1f77b4",
            label="measured (qualifies)",
        )
        if bad:
            left.plot(
                [p["workers"] for p in bad],
                [p["throughput"] for p in bad],
                "x",
                color="#d62728",
                markersize=8,
                label="measured (throttled over cap, missed or failed)",
            )
        if usl.get("rate_limit_ceiling"):
            rl = usl["rate_limit"]
            left.axhline(
                usl["rate_limit_ceiling"],
                color="#d62728",
                linestyle="--",
                linewidth=1,
                label=f"rate-limit ceiling ({rl['scope']}: {rl['limit']} per {rl['window_s']:g} s)",
            )
        for ax, field in ((left, "throughput"), (right, "makespan_s")):
            if chosen is not None:
                mark = next(p for p in points if p["workers"] == chosen)
                ax.axvline(chosen, color="#2ca02c", linestyle=":", linewidth=1.5)
                ax.plot(
                    [chosen],
                    [mark[field]],
                    "*",
                    color="#2ca02c",
                    markersize=16,
                    zorder=3,
                    label=f"recommended default: {chosen} workers",
                )
            ax.set_xlabel("workers (fan-out width)")
            ax.grid(True, alpha=0.3)
        right.plot(xs, [p["makespan_s"] for p in points], "o-", color="black", label="sync time")
        if bad:
            right.plot(
                [p["workers"] for p in bad],
                [p["makespan_s"] for p in bad],
                "x",
                color="#d62728",
                markersize=10,
                label="does not qualify (throttled over cap, missed or failed)",
            )
        best = document.get("best_workers")
        if best is not None:
            best_time = next(p["makespan_s"] for p in points if p["workers"] == best)
            right.axhspan(
                best_time,
                best_time * (1 + settings["margin"]),
                color="#2ca02c",
                alpha=0.15,
                label=f"within {settings['margin']:.0%} of the best qualifying time ({best} workers)",
            )
        left.set_ylabel("successful API calls per simulated second")
        right.set_ylabel("sync time (simulated seconds)")
        name = f"{settings['strategy']} / {settings['fanout']} on {settings['scenario']}"
        left.set_title(f"Throughput vs workers\n{name}")
        right.set_title(f"Sync time vs workers\n{name}")
        left.set_ylim(bottom=0)
        right.set_ylim(bottom=0)
        left.legend(fontsize="small", loc="lower right")
        right.legend(fontsize="small", loc="upper right")
        return figure.save(fig, path)
