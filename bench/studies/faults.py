"""The fault matrix: every strategy against every fault, judged against its fault-free run.

A fault is *transient* when a careful client can ride it out (retries, dedupe,
paging by what the server really returned): with retries enabled the sync must
end `ok`, storing everything its fault-free run stored, with no record written
twice. A fault is *permanent* when no client can finish: the sync must fail
loudly with the reason, and its bookmark must not move past anything it missed;
a sync that ends `ok` having lost records is a silent loss.

Each cell runs through `bench.run.runner.run` (with an observer that reads the store's
bookmarks); cells run in a process pool and come back in plan order, so the matrix
is as deterministic as one run.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

from bench.api.faults import FaultyAPI
from bench.measure.metrics import r6
from bench.run.pool import run_all
from bench.run.runner import RunSpec, SyncState, run
from bench.scenario.faults import (
    BodyFault,
    Duplicates,
    Faults,
    Hit,
    ServerErrors,
    ShortPages,
    Storm,
    Timeouts,
)
from bench.scenario.model import Scenario
from strategies import Options, get_strategy

__all__ = ["FaultCase", "Matrix", "cases_for", "judge", "run_cell", "run_matrix"]

FaultClass = Literal["transient", "permanent"]
DATA_ENDPOINTS: tuple[Any, ...] = ("reservations", "conversations", "reservation_conversations", "messages")


@dataclass(frozen=True)
class FaultCase:
    """One row group of the matrix: a fault, its class, and any client option it needs."""

    name: str
    kind: FaultClass
    summary: str
    faults: Faults
    page_size: int | None = None  # the client's page size, when the case is about page sizes


def cases_for(scenario: Scenario) -> list[FaultCase]:
    """The shipped fault cases, sized to the scenario's dialect (page sizes)."""
    size = scenario.dialect.page_size
    small, asked = max(1, size * 3 // 10), max(1, size // 2)
    hang = Timeouts(rate=0.1, burst=1, hang_s=60)
    return [
        FaultCase(
            "429-storm",
            "transient",
            "every request throttled for 3 s from t=1 s (Retry-After: 1)",
            Faults(storm=Storm(start_s=1, duration_s=3, retry_after_s=1)),
        ),
        FaultCase(
            "5xx-burst",
            "transient",
            "20% of requests answer 500/502/503 twice, then succeed",
            Faults(server_errors=ServerErrors(rate=0.2, burst=2)),
        ),
        FaultCase(
            "timeouts",
            "transient",
            "10% of requests hang 60 s once (past the client's read timeout)",
            Faults(timeouts=hang),
        ),
        FaultCase(
            "resets",
            "transient",
            "10% of requests have the connection reset twice",
            Faults(resets=Hit(rate=0.1, burst=2)),
        ),
        FaultCase(
            "truncated-body",
            "transient",
            "10% of responses cut mid-body once (protocol error)",
            Faults(truncated=BodyFault(rate=0.1, burst=1)),
        ),
        FaultCase(
            "short-pages",
            "transient",
            "half the listing pages come back half full, more follow",
            Faults(short_pages=ShortPages(rate=0.5, keep=0.5)),
        ),
        FaultCase(
            "duplicates",
            "transient",
            "every listing repeats 3 records across its pages",
            Faults(duplicates=Duplicates(rate=1.0, overlap=3)),
        ),
        FaultCase(
            "page-size-smaller",
            "transient",
            f"server ignores the page size: asked {size}, serves {small}",
            Faults(page_size=small),
        ),
        FaultCase(
            "page-size-larger",
            "transient",
            f"server ignores the page size: asked {asked}, serves {size}",
            Faults(page_size=size),
            page_size=asked,
        ),
        FaultCase(
            "429-storm-long",
            "permanent",
            "every request throttled for an hour from t=1 s (Retry-After: 1)",
            Faults(storm=Storm(start_s=1, duration_s=3600, retry_after_s=1)),
        ),
        FaultCase(
            "5xx-outage",
            "permanent",
            "every data endpoint answers 500/502/503 (the accounts call works)",
            Faults(server_errors=ServerErrors(rate=1.0, burst=None, endpoints=DATA_ENDPOINTS)),
        ),
        FaultCase(
            "hangs",
            "permanent",
            "5% of requests always hang past the client timeout",
            Faults(timeouts=Timeouts(rate=0.05, burst=None, hang_s=60)),
        ),
        FaultCase(
            "malformed-json",
            "permanent",
            "10% of responses are cut JSON (a complete, invalid body), always",
            Faults(malformed=BodyFault(rate=0.1, burst=None)),
        ),
    ]


# -- one cell -----------------------------------------------------------------------


@dataclass(frozen=True)
class CellSpec:
    scenario: Scenario
    strategy: str
    fanout: str
    options: Options
    case: FaultCase | None  # None: the fault-free reference


def _bookmark_check(state: SyncState, out: list[dict[str, Any]]) -> None:
    """After a sync: did any account's bookmark move, and past which incomplete conversations?

    A conversation the sync left incomplete is behind the bookmark when nothing in it is
    as new as the bookmark: a later incremental sync will not list it again, so the loss
    is permanent. (One with a message newer than the bookmark will be listed, and all its
    messages fetched, by the next sync.)
    """
    held = state.truth.held(state.store.message_versions())
    world = state.world
    advanced, behind = [], set()
    for account in world.accounts:
        before, after = state.bookmarks_before.get(account), state.store.bookmark(account)
        if after == before:
            continue
        advanced.append(account)
        for cid, required in state.truth.conversations.items():
            conv = world.conversations[cid]
            if conv.account != account or required <= held:
                continue
            newest = max((m.sent_ms for m in conv.messages if m.visible_t <= state.end_t), default=0)
            if after is not None and newest < after:
                behind.add(cid)
    injected = dict(state.api.injected) if isinstance(state.api, FaultyAPI) else {}
    out.append({"advanced": advanced, "behind": sorted(behind), "injected": injected})


def run_cell(cell: CellSpec) -> dict[str, Any]:
    """Run one strategy with one fault (or none); returns the figures the matrix judges, per sync."""
    scenario = cell.scenario
    if cell.case is not None:
        scenario = scenario.model_copy(update={"faults": cell.case.faults})
    checks: list[dict[str, Any]] = []
    spec = RunSpec(scenario, cell.strategy, cell.fanout, cell.options)
    result = run(spec, observe=lambda state: _bookmark_check(state, checks))
    injected: dict[str, int] = {}
    for check in checks:  # the counter is cumulative over the run: keep the last
        injected = check["injected"]
    return {"rows": result.rows, "checks": checks, "injected": dict(sorted(injected.items()))}


# -- judging ---------------------------------------------------------------------------


_REQUEST_PREFIX = re.compile(r"^[A-Z]+ \S+?:? (?=\S)")


def short_reason(error: str | None) -> str:
    """The error without the request it names: 'gave up after 6 attempts (HTTP 429)'."""
    return _REQUEST_PREFIX.sub("", error or "", count=1)


def _missed(raw: dict[str, Any]) -> set[tuple[int, int]]:
    return {(row["sync"], m["id"]) for row in raw["rows"] for m in row["missed"]}


def judge(case: FaultCase, strategy: str, raw: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """One matrix cell: what happened under the fault, compared with the same strategy fault-free."""
    rows, ref_rows = raw["rows"], reference["rows"]
    failed = [r for r in rows if r["status"] != "ok"]
    lost = sorted(_missed(raw) - _missed(reference))
    lost_ids = {cid for _, cid in lost}
    duplicates = sum(r["duplicates"] for r in rows)
    new_duplicates = max(0, duplicates - sum(r["duplicates"] for r in ref_rows))
    behind = sorted({cid for check in raw["checks"] for cid in check["behind"]})
    advanced = any(check["advanced"] for check in raw["checks"])
    expected = sum(r["conversations_expected"] for r in rows)
    found = sum(r["conversations_found"] for r in rows)
    makespan = sum(r["makespan_s"] for r in rows)
    error = failed[0]["error"] if failed else None
    violations: list[str] = []
    past_lost = sorted(lost_ids & set(behind))
    if past_lost:
        violations.append(f"bookmark advanced past {len(past_lost)} conversation(s) the fault made it miss")
    causes = _causes(rows, set(lost))
    # A miss of the kind the strategy already makes without the fault (offset paging skipping a
    # conversation that moved) is its own limitation, made likelier by a slower run: noted, not blamed.
    own = {m["reason"].split(":")[0] for r in ref_rows for m in r["missed"]}
    amplified = sorted(
        (sync, m["id"])
        for r in rows
        for m in r["missed"]
        if (sync := r["sync"], m["id"]) in set(lost) and m["reason"].split(":")[0] in own
    )
    blamed = sorted(set(lost) - set(amplified))
    if case.kind == "transient":
        if failed:
            violations.append(f"did not survive: {short_reason(error)}")
        if blamed:
            violations.append(
                f"missed {len(blamed)} conversation(s) the fault-free run stored ({_causes(rows, set(blamed))})"
            )
        if new_duplicates:
            violations.append(f"wrote {new_duplicates} record(s) twice")
    else:
        if failed and not all(r["error"] for r in failed):
            violations.append("failed without a reason")
        if lost and not failed:
            violations.append(
                f"silent loss: ended ok without {len(lost)} conversation(s) the fault-free run stored ({causes})"
            )
    return {
        "fault": case.name,
        "class": case.kind,
        "strategy": strategy,
        "status": "failed" if failed else "ok",
        "error": error,
        "reason": short_reason(error) if error else "",
        "coverage": r6(found / expected) if expected else 1.0,
        "conversations_found": found,
        "conversations_expected": expected,
        "missed_beyond_reference": [cid for _, cid in lost],
        #: of those, misses of a kind the strategy makes without the fault too (its own limitation)
        "amplified": [cid for _, cid in amplified],
        "duplicates": duplicates,
        "retries": sum(r["retries"] for r in rows),
        "rate_limited": sum(r["rate_limited"] for r in rows),
        "api_calls": sum(r["api_calls"] for r in rows),
        "makespan_s": r6(makespan),
        "extra_s": r6(makespan - sum(r["makespan_s"] for r in ref_rows)),
        "bookmark": _bookmark_label(advanced, behind),
        "behind_bookmark": behind,
        "injected": raw["injected"],
        "verdict": "violation" if violations else "ok",
        "violations": violations,
    }


def _causes(rows: list[dict[str, Any]], lost: set[tuple[int, int]]) -> str:
    """The miss reasons (their names, before the colon) of the lost conversations, with counts."""
    names = Counter(m["reason"].split(":")[0] for r in rows for m in r["missed"] if (r["sync"], m["id"]) in lost)
    return ", ".join(f"{name} x{n}" for name, n in sorted(names.items())) or "no reason given"


def _bookmark_label(advanced: bool, behind: list[int]) -> str:
    if not advanced:
        return "held"
    return f"past {len(behind)} missed" if behind else "advanced"


def reference_summary(strategy: str, raw: dict[str, Any], page_size: int | None) -> dict[str, Any]:
    """The fault-free run a strategy's cells are compared with."""
    rows = raw["rows"]
    behind = sorted({cid for check in raw["checks"] for cid in check["behind"]})
    return {
        "strategy": strategy,
        "page_size": page_size,
        "status": "failed" if any(r["status"] != "ok" for r in rows) else "ok",
        "error": next((r["error"] for r in rows if r["error"]), None),
        "coverage": rows[0]["coverage"]
        if len(rows) == 1
        else r6(sum(r["conversations_found"] for r in rows) / max(1, sum(r["conversations_expected"] for r in rows))),
        "missed": [{"sync": r["sync"], **m} for r in rows for m in r["missed"]],
        "duplicates": sum(r["duplicates"] for r in rows),
        "retries": sum(r["retries"] for r in rows),
        "rate_limited": sum(r["rate_limited"] for r in rows),
        "api_calls": sum(r["api_calls"] for r in rows),
        "makespan_s": r6(sum(r["makespan_s"] for r in rows)),
        "bookmark": _bookmark_label(any(c["advanced"] for c in raw["checks"]), behind),
        "behind_bookmark": behind,
    }


# -- the whole matrix ----------------------------------------------------------------------


@dataclass
class Matrix:
    """The judged matrix: references per strategy (and client page size), then one cell per fault x strategy."""

    scenario: Scenario
    fanout: str
    workers: int
    max_retries: int
    cases: list[FaultCase]
    references: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)

    @property
    def violations(self) -> int:
        return sum(cell["verdict"] != "ok" for cell in self.cells)


def _execute(cells: list[CellSpec], jobs: int) -> list[dict[str, Any]]:
    """Run cells in processes (the slow, full-sync strategies first); results in the cells' order."""
    slow = [get_strategy(cell.strategy).full for cell in cells]
    return run_all([partial(run_cell, cell) for cell in cells], jobs=jobs, slow=slow)


def run_matrix(
    scenario: Scenario,
    strategies: Iterable[str],
    cases: list[FaultCase],
    *,
    fanout: str = "threads",
    workers: int = 10,
    max_retries: int = 5,
    max_pages: int = Options().max_pages,
    jobs: int = 1,
) -> Matrix:
    """Run every case for every strategy, plus the fault-free references, and judge each cell."""
    strategies = list(strategies)
    base = Options(workers=workers, max_retries=max_retries, max_pages=max_pages)
    page_sizes = sorted({case.page_size for case in cases if case.page_size is not None})
    refs = [(s, size) for size in [None, *page_sizes] for s in strategies]
    specs = [CellSpec(scenario, s, fanout, replace(base, page_size=size), None) for s, size in refs]
    grid = [(case, s) for case in cases for s in strategies]
    specs += [CellSpec(scenario, s, fanout, replace(base, page_size=case.page_size), case) for case, s in grid]
    raws = _execute(specs, jobs)
    by_ref = {key: raw for key, raw in zip(refs, raws, strict=False)}
    matrix = Matrix(scenario, fanout, workers, max_retries, cases)
    matrix.references = [reference_summary(s, by_ref[(s, size)], size) for s, size in refs]
    for (case, strategy), raw in zip(grid, raws[len(refs) :], strict=True):
        matrix.cells.append(judge(case, strategy, raw, by_ref[(strategy, case.page_size)]))
    return matrix
