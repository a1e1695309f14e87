"""The regression gate's report (`syncbench gate`): Markdown for the terminal and the CI step summary."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from bench.render.document import Block, Heading, Para, Table, render_markdown
from bench.studies.gate import Verdict

__all__ = ["blocks", "markdown"]


def _pair(base: Any, now: Any, form: Callable[[Any], str]) -> str:
    """A figure as `base -> now`, or once when it did not change."""
    if base is None:
        return form(now) if now is not None else "-"
    if now is None:
        return f"{form(base)} -> -"
    return form(now) if base == now else f"{form(base)} -> {form(now)}"


def _table(verdicts: Sequence[Verdict]) -> Table:
    """One line per entry, in the verdicts' order (worst ratio first)."""
    rows = []
    for v in verdicts:
        b, n = v.base or {}, v.now or {}
        ratio = f"{v.ratio:.3f}" if v.ratio is not None and math.isfinite(v.ratio) else "-"
        rows.append(
            (
                v.label,
                _pair(b.get("makespan_s"), n.get("makespan_s"), lambda x: f"{x:.3f}"),
                ratio,
                _pair(b.get("api_calls"), n.get("api_calls"), str),
                _pair(b.get("rate_limited"), n.get("rate_limited"), str),
                _pair(b.get("coverage"), n.get("coverage"), lambda x: f"{x:.1%}"),
                v.result + (" **REGRESSION**: " + "; ".join(v.problems) if v.problems else ""),
            )
        )
    return Table(
        ("entry", "makespan (s)", "ratio", "API calls", "throttled", "coverage", "result"),
        tuple(rows),
        (False, True, True, True, True, True, False),
    )


def blocks(verdicts: Sequence[Verdict], threshold: float, floor: float, determinism: str) -> list[Block]:
    """A heading with the verdict, the counts and rules, the table, and the determinism line."""
    failed = [v for v in verdicts if v.regression]
    counts = {r: sum(1 for v in verdicts if v.result == r) for r in ("worse", "better", "same")}
    verdict = f"FAIL: {len(failed)} regression{'s' if len(failed) != 1 else ''}" if failed else "pass"
    return [
        Heading(3, f"syncbench gate: {verdict}"),
        Para(
            f"{len(verdicts)} entries: {counts['worse']} worse, {counts['better']} better, {counts['same']} same"
            f" (makespan threshold {threshold:.0%}, floor {floor:g} s; any increase in API calls or drop in coverage"
            " fails). Figures are simulated."
        ),
        _table(verdicts),
        Para(determinism),
    ]


def markdown(verdicts: Sequence[Verdict], threshold: float, floor: float, determinism: str) -> str:
    """The gate's report as Markdown."""
    return render_markdown(blocks(verdicts, threshold, floor, determinism))
