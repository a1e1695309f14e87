"""The scaling study's files (`syncbench scale`): scaling.json, scaling.md and scaling.png.

The study's blocks are also what a sweep report in the same folder shows of it. Host figures
vary between machines, so these files are a host report, never part of results.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.render import figure
from bench.render.document import Block, Bullets, Heading, Image, Para, Table, render_markdown
from bench.results.files import atomic_write, json_text
from bench.studies.scale import ScalePoint, growth, study_document

__all__ = ["plot_scaling", "study_blocks", "write_study"]


def _shape(k: float | None) -> str:
    if k is None:
        return "n/a"
    if k < 0.2:
        return f"flat (N^{k:.2f})"
    if k < 0.85:
        return f"sub-linear (N^{k:.2f})"
    if k <= 1.15:
        return f"linear (N^{k:.2f})"
    return f"worse than linear (N^{k:.2f})"


def _why(points: list[ScalePoint], strategy: str) -> str:
    calls, host, memory = (growth(points, strategy, f) for f in ("api_calls", "host_seconds", "peak_mib"))
    mine = sorted((p for p in points if p.strategy == strategy), key=lambda p: p.size)
    per_call = [p.host_seconds / p.api_calls * 1e6 for p in mine if p.api_calls]
    text = f"API calls grow {_shape(calls)}"
    if calls is not None and calls < 0.85:
        text += ": the strategy follows the activity, not the size of the data"
    elif calls is not None:
        text += ": the strategy reads every record"
    text += f"; host time grows {_shape(host)}"
    if per_call:
        text += f" (from {per_call[0]:.0f} to {per_call[-1]:.0f} µs per call, generating the world included)"
    text += f"; memory grows {_shape(memory)}, the world's records held in memory plus the store"
    return text + "."


def study_blocks(points: list[ScalePoint], title: str) -> list[Block]:
    """The study as report blocks: the table, how each cost grows and why, and the plot."""
    ordered = sorted(points, key=lambda p: (p.strategy, p.size))
    table = Table(
        ("conversations", "strategy", "host (s)", "peak memory (MiB)", "makespan (s)", "API calls", "coverage"),
        tuple(
            (
                f"{p.size:,}",
                p.strategy,
                f"{p.host_seconds:.2f}",
                f"{p.peak_mib:.0f}",
                f"{p.makespan_s:.1f}",
                f"{p.api_calls:,}",
                f"{p.coverage:.1%}",
            )
            for p in ordered
        ),
        (True, False, True, True, True, True, True),
    )
    growth_items = tuple(
        (
            strategy,
            f"simulated makespan grows {_shape(growth(points, strategy, 'makespan_s'))}; " + _why(points, strategy),
        )
        for strategy in sorted({p.strategy for p in points})
    )
    return [
        Heading(2, f"Scaling study: {title}"),
        Para("Host figures from this machine (they vary between machines); makespan in simulated seconds."),
        table,
        Heading(3, "How each cost grows"),
        Bullets(growth_items),
        Image("scaling", "scaling.png"),
    ]


def plot_scaling(points: Sequence[ScalePoint], path: Path) -> Path:
    """Host time, peak memory and simulated makespan against conversations, one line per strategy (log-log)."""
    strategies = sorted({p.strategy for p in points})
    with figure.panels(3, (5.2, 4.6)) as (fig, axes):
        costs = (
            ("host_seconds", "host time (s)"),
            ("peak_mib", "peak memory (MiB)"),
            ("makespan_s", "simulated makespan (s)"),
        )
        for ax, (field, label) in zip(axes, costs, strict=True):
            for strategy in strategies:
                mine = sorted((p for p in points if p.strategy == strategy), key=lambda p: p.size)
                ax.plot([p.size for p in mine], [getattr(p, field) for p in mine], marker="o", label=strategy)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("conversations")
            ax.set_ylabel(label)
            ax.set_title(label.split(" (")[0])
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Cost as the data grows")
        return figure.save(fig, path)


def write_study(points: list[ScalePoint], out: Path, title: str) -> list[Path]:
    """scaling.json, scaling.md and scaling.png; a sweep report in the same folder shows the study too."""
    atomic_write(out / "scaling.json", json_text(study_document(points, title)))
    atomic_write(out / "scaling.md", render_markdown(study_blocks(points, title)))
    return [out / "scaling.json", out / "scaling.md", plot_scaling(points, out / "scaling.png")]
