"""The fault matrix's report (`syncbench faults`): a terminal table and faults.md, from the same cells.

Both show the references first, then one line per fault x strategy; faults.md adds the fault
definitions and the notes the terminal prints below its table.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.table import Table as RichTable

from bench.render.document import Block, Bullets, Heading, Para, Table, render_markdown
from bench.studies.faults import Matrix

__all__ = ["COLUMNS", "blocks", "markdown", "notes", "table"]

COLUMNS = (
    "fault",
    "class",
    "strategy",
    "status",
    "coverage",
    "missed",
    "dup",
    "retries",
    "429s",
    "+time s",
    "bookmark",
    "hits",
    "verdict",
)
#: left-aligned columns; the others are right-aligned
TEXT_COLUMNS = ("fault", "class", "strategy", "bookmark")


def _cells(cell: dict[str, Any]) -> tuple[str, ...]:
    return (
        cell["fault"],
        cell["class"],
        cell["strategy"],
        cell["status"],
        f"{cell['coverage']:.1%}",
        str(len(cell["missed_beyond_reference"])),
        str(cell["duplicates"]),
        str(cell["retries"]),
        str(cell["rate_limited"]),
        f"{cell['extra_s']:+.1f}",
        cell["bookmark"],
        str(sum(cell["injected"].values())),
        "ok" if cell["verdict"] == "ok" else "VIOLATION",
    )


def _reference_cells(ref: dict[str, Any]) -> tuple[str, ...]:
    label = "none" if ref["page_size"] is None else f"none (page size {ref['page_size']})"
    return (
        label,
        "reference",
        ref["strategy"],
        ref["status"],
        f"{ref['coverage']:.1%}",
        f"{len(ref['missed'])} (ref)",
        str(ref["duplicates"]),
        str(ref["retries"]),
        str(ref["rate_limited"]),
        f"{ref['makespan_s']:.1f}",
        ref["bookmark"],
        "0",
        "",
    )


def notes(matrix: Matrix) -> list[str]:
    """One line per fault-free miss, failure reason and violation, in table order."""
    found = []
    for ref in matrix.references:
        where = "reference" if ref["page_size"] is None else f"reference (page size {ref['page_size']})"
        if ref["missed"]:
            causes = Counter(miss["reason"].split(":")[0] for miss in ref["missed"])
            ids = ", ".join(str(miss["id"]) for miss in ref["missed"][:5]) + (", ..." if len(ref["missed"]) > 5 else "")
            found.append(
                f"{where} / {ref['strategy']}: misses {len(ref['missed'])} conversation(s) without any "
                f"fault ({', '.join(f'{c} x{n}' for c, n in sorted(causes.items()))}): {ids}"
            )
    for cell in matrix.cells:
        where = f"{cell['fault']} / {cell['strategy']}"
        if cell["error"]:
            found.append(f"{where}: failed, saying: {cell['error']}")
        for violation in cell["violations"]:
            found.append(f"{where}: VIOLATION: {violation}")
    return found


def table(matrix: Matrix) -> RichTable:
    """The matrix as a terminal table, violations in bold red."""
    scenario = matrix.scenario
    title = (
        f"fault matrix: {scenario.name}, {matrix.fanout} x{matrix.workers}, max retries {matrix.max_retries} "
        "(missed: beyond the fault-free run; +time: simulated s over it; reference rows: makespan)"
    )
    out = RichTable(title=title)
    for name in COLUMNS:
        out.add_column(name, justify="left" if name in TEXT_COLUMNS else "right")
    for ref in matrix.references:
        out.add_row(*_reference_cells(ref), style="dim")
    for cell in matrix.cells:
        out.add_row(*_cells(cell), style=None if cell["verdict"] == "ok" else "bold red")
    return out


def blocks(matrix: Matrix) -> list[Block]:
    """faults.md's blocks: what was run and the rules, the table, the fault definitions, the notes."""
    scenario = matrix.scenario
    return [
        Heading(1, f"Fault matrix: {scenario.name}"),
        Para(
            f"Fan-out {matrix.fanout} x{matrix.workers}, max retries {matrix.max_retries}, seed {scenario.seed}. "
            "All times are simulated seconds. Transient faults must end ok with nothing lost against the fault-free "
            "run and nothing written twice; permanent faults must fail loudly with the reason, never lose silently, "
            "and never move the bookmark past what was missed."
        ),
        Para(f"**{matrix.violations} violation(s).**"),
        Table(
            COLUMNS,
            (*map(_reference_cells, matrix.references), *map(_cells, matrix.cells)),
            tuple(name not in TEXT_COLUMNS for name in COLUMNS),
        ),
        Heading(2, "Faults"),
        Bullets(tuple(("", f"`{case.name}` ({case.kind}): {case.summary}") for case in matrix.cases)),
        Heading(2, "Notes"),
        Bullets(tuple(("", note) for note in notes(matrix) or ["none"])),
    ]


def markdown(matrix: Matrix) -> str:
    """faults.md."""
    return render_markdown(blocks(matrix))
