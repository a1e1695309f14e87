"""The CI regression gate: rerun a small matrix and compare it with a recorded baseline.

The baseline (reports/baseline.json) is the matrix: one entry per result row, keyed by
(scenario, strategy, fanout, workers, account_workers, seed, sync, options), holding the
simulated makespan_s, api_calls, rate_limited and coverage. `syncbench gate --update`
re-measures the entries already there (keeping per-entry overrides), or the default matrix
when there is no baseline yet. A baseline is valid only for the syncbench version, the
scenario hashes and the Python minor version it was recorded with.

A regression is a makespan worse than the threshold (and by more than the floor, so tiny
times cannot flap), any increase in API calls (throttled calls count, so more throttling
shows there), any drop in coverage, a failed sync, or a row that went missing. Per-entry
overrides: `threshold` (a fraction, e.g. 0.1) and `allow_calls_increase` (true).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

import bench
from bench.analysis.compare import options_label
from bench.errors import HarnessError
from bench.measure.row import KEY_FIELDS
from bench.results.documents import Checked, Document, load_document
from bench.results.files import atomic_write, json_text
from bench.run.pool import run_all
from bench.run.runner import RunSpec, run
from bench.run.settings import CheckedOptions, check_options
from bench.scenario.model import Scenario, load_scenario, scenario_hash
from strategies import Options, UnknownStrategy, available, resolve

__all__ = [
    "DEFAULT_BASELINE",
    "DEFAULT_MATRIX",
    "Baseline",
    "GateRun",
    "Verdict",
    "build_baseline",
    "compare",
    "determinism_check",
    "determinism_line",
    "determinism_run",
    "entry_label",
    "load_baseline",
    "measure",
    "validity",
]

Row = dict[str, Any]
FORMAT = 1
DEFAULT_BASELINE = Path("reports/baseline.json")
DEFAULT_THRESHOLD = 0.05
#: makespan differences below this many simulated seconds never count as worse or better
DEFAULT_FLOOR_S = 0.05
FIGURES = ("makespan_s", "api_calls", "rate_limited", "coverage")
OVERRIDES = ("threshold", "allow_calls_increase")
NOTE = (
    "syncbench gate baseline: one entry per result row. Re-record with `syncbench gate --update` (it re-measures"
    " these entries and keeps overrides). Per-entry overrides: threshold (a fraction, e.g. 0.1) and"
    " allow_calls_increase (true). Add an entry by adding its key and running --update."
)


@dataclass(frozen=True)
class GateRun:
    """One run of the matrix (it gives one entry per sync)."""

    scenario: str
    strategy: str
    fanout: str
    workers: int
    account_workers: int = 1
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> RunSpec:
        unknown = set(self.options) - (set(Options.__dataclass_fields__) - {"workers", "account_workers"})
        if unknown:
            raise HarnessError(f"baseline entry {self.scenario} {self.strategy}: unknown option {sorted(unknown)[0]!r}")
        try:
            opts = check_options(Options(workers=self.workers, account_workers=self.account_workers, **self.options))
            resolve([self.strategy])
            return RunSpec(load_scenario(self.scenario, self.seed), self.strategy, self.fanout, opts)
        except (UnknownStrategy, ValueError) as error:
            raise HarnessError(f"baseline entry {self.scenario} {self.strategy}: {error}") from None


#: every shipped strategy on the field study in threads at 1 and 10 workers and async at 10, plus the
#: inbox's second sync (incremental vs full) at 5 workers: about 15 runs, a few seconds on 2 cores
DEFAULT_MATRIX: tuple[GateRun, ...] = (
    *(
        GateRun("pms-1000", strategy, fanout, workers)
        for strategy in ("full-pagination", "client-filter", "reservation-early-stop", "since-incremental")
        for fanout, workers in (("threads", 1), ("threads", 10), ("async", 10))
    ),
    GateRun("inbox-second-sync", "since-incremental", "threads", 5),
    GateRun("inbox-second-sync", "full-pagination", "threads", 5),
)


def canonical(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def entry_label(key: dict[str, Any]) -> str:
    """Names an entry: `pms-1000 client-filter threads x10 [page_size=50] (seed 1, sync 0)`."""
    label = f"{key['scenario']} {key['strategy']} {key['fanout']} x{key['workers']}"
    if key.get("account_workers", 1) != 1:
        label += f" accounts x{key['account_workers']}"
    if key.get("options"):
        label += f" [{options_label(key)}]"
    return f"{label} (seed {key['seed']}, sync {key['sync']})"


def validity(scenarios: Sequence[Scenario]) -> dict[str, Any]:
    """What a baseline is valid for: syncbench's version, the scenario hashes, the Python minor version."""
    return {
        "syncbench": bench.__version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "scenarios": {s.name: scenario_hash(s) for s in sorted(scenarios, key=lambda s: s.name)},
    }


@dataclass
class Baseline:
    path: Path
    entries: list[dict[str, Any]]
    validity: dict[str, Any] | None
    floor_s: float = DEFAULT_FLOOR_S

    def runs(self) -> list[GateRun]:
        """The matrix runs behind the entries, in entry order, each once."""
        seen: dict[str, GateRun] = {}
        for entry in self.entries:
            k = entry["key"]
            run_ = GateRun(
                k["scenario"],
                k["strategy"],
                k["fanout"],
                k["workers"],
                k["account_workers"],
                k.get("seed"),
                dict(k.get("options") or {}),
            )
            seen.setdefault(canonical({f: k.get(f) for f in KEY_FIELDS if f != "sync"} | {"seed": run_.seed}), run_)
        return list(seen.values())


def _fraction(value: float) -> float:
    if not 0 <= value < 100:
        raise ValueError(f"must be a fraction such as 0.1, not {value:g}")
    return value


Count = Annotated[int, Field(ge=0)]
Figure = Annotated[float, Field(allow_inf_nan=False)]


class Validity(Document):
    """What a baseline was recorded for (`validity()`)."""

    syncbench: str
    python: str
    scenarios: dict[str, str]


class DraftKey(Document):
    """An entry's key as `--update` takes it: the seed may be left out (the scenario's own)."""

    scenario: str
    strategy: str
    fanout: str
    workers: Count
    account_workers: Count
    seed: int | None = None
    sync: Count
    options: Annotated[dict[str, Any], Checked(CheckedOptions)] = {}

    @field_validator("options")
    @classmethod
    def _settings_only(cls, options: dict[str, Any]) -> dict[str, Any]:
        for name in ("workers", "account_workers"):
            if name in options:
                raise ValueError(f"{name} belongs in the key itself, not in its options")
        return options


class Key(DraftKey):
    """An entry's key as the gate compares it: the seed is stated (null for the scenario's own)."""

    seed: int | None


class DraftEntry(Document):
    """An entry as `--update` takes it: a key (and overrides) whose figures are yet to be measured."""

    key: DraftKey
    makespan_s: Figure | None = None
    api_calls: Figure | None = None
    rate_limited: Figure | None = None
    coverage: Figure | None = None
    threshold: Annotated[float, AfterValidator(_fraction)] = 0.0
    allow_calls_increase: bool = False


class Entry(DraftEntry):
    """An entry as the gate compares it: every figure measured."""

    key: Key
    makespan_s: Figure
    api_calls: Figure
    rate_limited: Figure
    coverage: Figure


class DraftBaselineDocument(Document):
    """reports/baseline.json as `--update` takes it: validity and figures may be missing."""

    format: int = FORMAT
    note: str = ""
    floor_s: Annotated[float, Field(ge=0)] = DEFAULT_FLOOR_S
    entries: list[Annotated[dict[str, Any], Checked(DraftEntry)]] = Field(min_length=1)
    validity: Annotated[dict[str, Any], Checked(Validity)] | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != FORMAT:
            raise ValueError(f"want {FORMAT} (the baseline format this syncbench reads), not {value}")
        return value

    @field_validator("entries")
    @classmethod
    def _each_key_once(cls, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        first: dict[str, int] = {}
        for index, entry in enumerate(entries):
            seen = first.setdefault(canonical(entry["key"]), index)
            if seen != index:
                raise ValueError(f"entries {seen} and {index} have the same key")
        return entries


class BaselineDocument(DraftBaselineDocument):
    """reports/baseline.json as the gate reads it: every entry measured, and what it is valid for."""

    entries: list[Annotated[dict[str, Any], Checked(Entry)]] = Field(min_length=1)
    validity: Annotated[dict[str, Any], Checked(Validity)]


def load_baseline(path: Path, *, strict: bool = True) -> Baseline:
    """Read and check a baseline; `strict=False` (for --update) lets entries lack figures and validity."""
    missing = "record one with `syncbench gate --update`"
    if strict:
        doc: DraftBaselineDocument = load_document(path, BaselineDocument, what="baseline", missing=missing)
    else:
        doc = load_document(path, DraftBaselineDocument, what="baseline", missing=missing)
    return Baseline(path, doc.entries, doc.validity, doc.floor_s)


def check_validity(baseline: Baseline, current: dict[str, Any]) -> None:
    """Refuse a baseline recorded for another version, Python or scenario set, naming what changed."""
    found = baseline.validity or {}
    changed = [
        f"{what} {found.get(name)!r} (now {current[name]!r})"
        for name, what in (("syncbench", "syncbench"), ("python", "Python"))
        if found.get(name) != current[name]
    ]
    old, new = found.get("scenarios") or {}, current["scenarios"]
    moved = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    if moved:
        changed.append(f"scenario hashes of {', '.join(moved)}")
    if changed:
        raise HarnessError(
            f"{baseline.path} was recorded for another setup ({'; '.join(changed)});"
            " re-record it with `syncbench gate --update`"
        )


def _rows(spec: RunSpec) -> list[Row]:
    """One run's rows (module level, so a process pool can pickle it)."""
    return run(spec).rows


def _expensive(run_: GateRun) -> bool:
    """Full syncs and first syncs read every page: a few seconds each where the others take a fraction."""
    return available()[run_.strategy].full or load_scenario(run_.scenario, run_.seed).activity.first_sync


def determinism_run(runs: Sequence[GateRun]) -> int:
    """The run rerun to prove determinism: the threaded run with the most workers, the cheap ones first,
    since the thread scheduler is what could break determinism; else the first run."""
    threaded = [i for i, r in enumerate(runs) if r.fanout == "threads"]
    if not threaded:
        return 0
    return max(threaded, key=lambda i: (runs[i].workers, not _expensive(runs[i]), -i))


def measure(runs: Sequence[GateRun], jobs: int) -> tuple[list[list[Row]], list[Row]]:
    """Rows of every run (in run order) and a second, independent run of the determinism entry."""
    specs = [r.spec() for r in runs]
    again = determinism_run(runs)
    todo = [*range(len(specs)), again]
    slow = [_expensive(runs[i]) for i in todo]
    rows = run_all([partial(_rows, specs[i]) for i in todo], jobs=jobs, slow=slow)
    return rows[:-1], rows[-1]


def _rounded(value: float) -> float:
    return round(float(value), 6)


def build_baseline(
    runs_rows: Sequence[Sequence[Row]], scenarios: Sequence[Scenario], previous: Baseline | None = None
) -> dict[str, Any]:
    """A baseline document from measured rows, keeping the previous baseline's overrides and floor."""
    overrides = {
        canonical(e["key"]): {k: e[k] for k in OVERRIDES if k in e} for e in (previous.entries if previous else [])
    }
    entries = []
    for rows in runs_rows:
        for row in rows:
            key = {f: row[f] for f in KEY_FIELDS}
            entry = {"key": key} | {f: row[f] if isinstance(row[f], int) else _rounded(row[f]) for f in FIGURES}
            entries.append(entry | overrides.get(canonical(key), {}))
    return {
        "format": FORMAT,
        "note": NOTE,
        "floor_s": previous.floor_s if previous else DEFAULT_FLOOR_S,
        "validity": validity(scenarios),
        "entries": entries,
    }


def baseline_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_baseline(path: Path, document: dict[str, Any]) -> None:
    atomic_write(path, baseline_text(document))


@dataclass(frozen=True)
class Verdict:
    """One entry's comparison: `result` is better / worse / same on makespan; `problems` make it a regression."""

    label: str
    key: dict[str, Any]
    base: dict[str, Any] | None
    now: Row | None
    ratio: float | None
    result: str
    problems: tuple[str, ...]

    @property
    def regression(self) -> bool:
        return bool(self.problems)


def _judge(entry: dict[str, Any], row: Row, threshold: float, floor: float) -> tuple[float | None, str, list[str]]:
    threshold = float(entry.get("threshold", threshold))
    base_t, now_t = entry["makespan_s"], row["makespan_s"]
    ratio = now_t / base_t if base_t > 0 else (1.0 if now_t == 0 else math.inf)
    problems = []
    result = "same"
    if now_t > base_t * (1 + threshold) and now_t - base_t > floor:
        result = "worse"
        problems.append(f"makespan {base_t:.3f} s -> {now_t:.3f} s ({ratio - 1:+.1%}, threshold {threshold:.0%})")
    elif now_t < base_t * (1 - threshold) and base_t - now_t > floor:
        result = "better"
    if row["api_calls"] > entry["api_calls"] and not entry.get("allow_calls_increase", False):
        more = row["api_calls"] - entry["api_calls"]
        problems.append(f"API calls {entry['api_calls']} -> {row['api_calls']} (+{more})")
    if row["coverage"] < entry["coverage"]:
        problems.append(f"coverage {entry['coverage']:.2%} -> {row['coverage']:.2%}")
    if row["status"] != "ok":
        problems.append(f"sync failed: {row.get('error') or 'no reason recorded'}")
    return ratio, result, problems


def compare(
    baseline: Baseline, runs_rows: Sequence[Sequence[Row]], threshold: float = DEFAULT_THRESHOLD
) -> list[Verdict]:
    """Every baseline entry against the row with its key, plus rows the baseline lacks; sorted worst ratio first."""
    rows = {canonical({f: r[f] for f in KEY_FIELDS}): r for group in runs_rows for r in group}
    verdicts = []
    for entry in baseline.entries:
        key = {f: entry["key"].get(f, {} if f == "options" else None) for f in KEY_FIELDS}
        row = rows.pop(canonical(key), None)
        if row is None:
            verdicts.append(Verdict(entry_label(key), key, entry, None, None, "missing", ("no result row for it",)))
            continue
        ratio, result, problems = _judge(entry, row, threshold, baseline.floor_s)
        verdicts.append(Verdict(entry_label(key), key, entry, row, ratio, result, tuple(problems)))
    for row in rows.values():
        key = {f: row[f] for f in KEY_FIELDS}
        verdicts.append(
            Verdict(
                entry_label(key),
                key,
                None,
                row,
                None,
                "new",
                ("not in the baseline; re-record it with `syncbench gate --update`",),
            )
        )
    return sorted(verdicts, key=lambda v: (-(v.ratio if v.ratio is not None else math.inf), v.label))


def determinism_check(runs: Sequence[GateRun], runs_rows: Sequence[Sequence[Row]], again: Sequence[Row]) -> str | None:
    """None when the determinism entry's two runs gave byte-identical rows, else what differed."""
    index = determinism_run(runs)
    if json_text(list(runs_rows[index])) == json_text(list(again)):
        return None
    return first_difference(runs_rows[index], again)


def determinism_line(runs: Sequence[GateRun], runs_rows: Sequence[Sequence[Row]], problem: str | None) -> str:
    first = runs_rows[determinism_run(runs)]
    label = entry_label({f: first[0][f] for f in KEY_FIELDS}).rsplit(" (", 1)[0] if first else "(no rows)"
    if problem is None:
        return f"Determinism: {label} ran twice independently; its {len(first)} row(s) are byte-identical."
    return f"Determinism: FAIL: {label} gave different rows on two runs ({problem})."


def first_difference(a: Sequence[Row], b: Sequence[Row]) -> str:
    """Where two runs' rows first differ, for the determinism message."""
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}"
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        for name in sorted(set(x) | set(y)):
            if x.get(name) != y.get(name):
                return f"row {index} field {name!r}: {x.get(name)!r} vs {y.get(name)!r}"
    return "the same values in a different serialisation"
