"""Comparisons over result rows: groups, speedups, summary tables, why strategies differ, why scaling is sub-linear.

Pure functions over lists of row dicts (docs/design.md, Contracts): no I/O, no plotting, inputs never
modified, and the same rows always give the same answer whatever their order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

__all__ = [
    "FANOUT_ORDER",
    "MESSAGE_ENDPOINTS",
    "baseline_row",
    "explain_differences",
    "faster_ratios",
    "faster_text",
    "group_rows",
    "missed_conversations",
    "options_label",
    "reason_code",
    "row_label",
    "scaling_notes",
    "settings_label",
    "sort_rows",
    "speedup",
    "speedups",
    "summary_tables",
    "times_faster",
]

Row = dict[str, Any]
GroupKey = tuple[str, str, str, int, str]

FANOUT_ORDER = {"sequential": 0, "threads": 1, "async": 2}
#: endpoints that fetch one conversation's messages: the figure the over-fetch accounting rests on
MESSAGE_ENDPOINTS = ("messages",)
#: a phase that keeps at least this share of its sequential time does not parallelise
FLAT_PHASE_SHARE = 0.9
#: what a fetch the row cannot classify may be
UNCLASSIFIED_EXAMPLES = "e.g. a conversation whose message arrived during the sync, or a call retried after an error"
#: phases shorter than this share of the run are too small to explain anything
MIN_PHASE_SHARE = 0.05
#: efficiency at or above which a run is "close to its lower bound"
NEAR_BOUND = 0.8


def options_key(row: Row) -> str:
    """A canonical, hashable form of the options map, so equal maps group together."""
    return json.dumps(row.get("options") or {}, sort_keys=True)


def options_label(row: Row) -> str:
    """The non-default options as `name=value`, empty when there are none."""
    return ", ".join(f"{k}={v}" for k, v in sorted((row.get("options") or {}).items()))


def settings_label(row: Row) -> str:
    """How a row ran, without the strategy: the words a reader uses ("threads x10")."""
    parts = [f"{row['fanout']} x{row['workers']}"]
    if row.get("account_workers", 1) != 1:
        parts.append(f"{row['account_workers']} accounts at once")
    if options_label(row):
        parts.append(options_label(row))
    return ", ".join(parts)


def row_label(row: Row) -> str:
    """Strategy plus settings: names one row among a sweep's rows."""
    return f"{row['strategy']} ({settings_label(row)})"


def _fanout_rank(fanout: str) -> tuple[int, str]:
    """Known fan-outs in their natural order, unknown ones after them by name."""
    return FANOUT_ORDER.get(fanout, len(FANOUT_ORDER)), fanout


def _options_rank(row: Row) -> tuple[bool, str]:
    """Default options first, then the others by their canonical form."""
    key = options_key(row)
    return key != "{}", key


def sort_key(row: Row) -> tuple[Any, ...]:
    """Canonical row order, so tables and plots do not depend on the order rows arrived in."""
    return (
        row["scenario"],
        row["strategy"],
        _fanout_rank(row["fanout"]),
        _options_rank(row),
        row.get("sync", 0),
        row["workers"],
        row.get("account_workers", 1),
        row.get("seed", 0),
    )


def sort_rows(rows: Iterable[Row]) -> list[Row]:
    """The rows in canonical order (a new list; the rows themselves are shared, not copied)."""
    return sorted(rows, key=sort_key)


def group_key(row: Row) -> GroupKey:
    """(scenario, strategy, fanout, sync, options): the rows of one line across worker counts."""
    return row["scenario"], row["strategy"], row["fanout"], row.get("sync", 0), options_key(row)


def group_rows(rows: Iterable[Row]) -> dict[GroupKey, list[Row]]:
    """Rows grouped into lines across worker counts, each ordered by workers (then account workers, seed)."""
    groups: dict[GroupKey, list[Row]] = {}
    for row in sort_rows(rows):
        groups.setdefault(group_key(row), []).append(row)
    ordered = sorted(groups, key=lambda k: (k[0], k[1], _fanout_rank(k[2]), (k[4] != "{}", k[4]), k[3]))
    return {k: groups[k] for k in ordered}


def _ok(row: Row | None) -> bool:
    """A row whose time means something: it finished and took some time."""
    return row is not None and row.get("status") == "ok" and row.get("makespan_s", 0) > 0


def _same_work(a: Row, b: Row) -> bool:
    """Same strategy doing the same job (scenario, seed, sync, accounts at once, options)."""
    return all(a.get(k) == b.get(k) for k in ("scenario", "strategy", "seed", "sync", "account_workers")) and (
        options_key(a) == options_key(b)
    )


def baseline_row(row: Row, rows: Sequence[Row]) -> Row | None:
    """The run `row` is sped up over: the same work run sequentially, else its own fan-out at 1 worker."""
    peers = [r for r in rows if _same_work(r, row)]
    sequential = sorted(
        (r for r in peers if r["fanout"] == "sequential"), key=lambda r: (r["workers"] != 1, r["workers"])
    )
    if sequential:
        return sequential[0]
    single = [r for r in peers if r["fanout"] == row["fanout"] and r["workers"] == 1]
    return single[0] if single else None


def speedup(row: Row, rows: Sequence[Row]) -> float | None:
    """Baseline time over this row's time; None when either run failed or there is no baseline."""
    base = baseline_row(row, rows)
    if not (_ok(base) and _ok(row)):
        return None
    assert base is not None
    return base["makespan_s"] / row["makespan_s"]


def speedups(rows: Sequence[Row]) -> list[float | None]:
    """`speedup` of every row, aligned with `rows`."""
    return [speedup(r, rows) for r in rows]


def times_faster(fast: Row, slow: Row) -> float | None:
    """How many times faster `fast` is than `slow` (below 1: slower); None when either failed."""
    if not (_ok(fast) and _ok(slow)):
        return None
    return slow["makespan_s"] / fast["makespan_s"]


def faster_text(ratio: float | None) -> str:
    """A ratio in words: "3.2x faster", "1.5x slower", "as fast"."""
    if ratio is None:
        return "not comparable (a run failed)"
    if round(ratio, 1) == 1.0:
        return "as fast"
    return f"{ratio:.1f}x faster" if ratio > 1 else f"{1 / ratio:.1f}x slower"


def settings_key(row: Row) -> tuple[Any, ...]:
    """Everything but the strategy: rows with equal keys are directly comparable."""
    return (
        row["scenario"],
        row.get("seed", 0),
        row.get("sync", 0),
        _fanout_rank(row["fanout"]),
        row["workers"],
        row.get("account_workers", 1),
        _options_rank(row),
    )


def _by_settings(rows: Iterable[Row]) -> dict[tuple[Any, ...], list[Row]]:
    """Rows grouped by settings, each group ordered by strategy."""
    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in sort_rows(rows):
        groups.setdefault(settings_key(row), []).append(row)
    return {k: sorted(groups[k], key=lambda r: r["strategy"]) for k in sorted(groups)}


def faster_ratios(rows: Sequence[Row], baseline: str | None = None) -> list[dict[str, Any]]:
    """At each setting, how many times faster each strategy is than `baseline` (default: the slowest there)."""
    out: list[dict[str, Any]] = []
    for group in _by_settings(rows).values():
        ok = [r for r in group if _ok(r)]
        if baseline is not None:
            base = next((r for r in ok if r["strategy"] == baseline), None)
        else:
            base = max(ok, key=lambda r: (r["makespan_s"], r["strategy"]), default=None)
        if base is None:
            continue
        label = settings_label(base) + _seed_sync_suffix(base, rows)
        for row in group:
            if row is base:
                continue
            ratio = times_faster(row, base)
            out.append(
                {
                    "scenario": row["scenario"],
                    "seed": row.get("seed"),
                    "sync": row.get("sync", 0),
                    "settings": label,
                    "strategy": row["strategy"],
                    "baseline": base["strategy"],
                    "ratio": ratio,
                    "text": f"{row['strategy']} is {faster_text(ratio)} than {base['strategy']} at {label}",
                }
            )
    return out


def summary_tables(rows: Sequence[Row]) -> dict[str, list[dict[str, Any]]]:
    """Per scenario, one entry per row with the figures a reader compares (raw numbers, not formatted)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for row in sort_rows(rows):
        tables.setdefault(row["scenario"], []).append(
            {
                "strategy": row["strategy"],
                "fanout": row["fanout"],
                "workers": row["workers"],
                "account_workers": row.get("account_workers", 1),
                "seed": row.get("seed"),
                "sync": row.get("sync", 0),
                "options": options_label(row),
                "status": row.get("status"),
                "time_s": row["makespan_s"],
                "speedup": speedup(row, rows),
                "calls": row["api_calls"],
                "throttled": row["rate_limited"],
                "retries": row.get("retries", 0),
                "found": row["conversations_found"],
                "expected": row["conversations_expected"],
                "coverage": row["coverage"],
                "missed": len(row.get("missed", [])),
                "overfetched": row["overfetched"],
                "lower_bound_s": row.get("lower_bound_s", 0.0),
                "efficiency": row["efficiency"],
            }
        )
    return tables


def reason_code(reason: str) -> str:
    """The mechanism's short name: the part of a miss reason before its colon."""
    return reason.split(":", 1)[0].strip()


def missed_conversations(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Every missed conversation once per (scenario, strategy, id, reason), with the settings that missed it."""
    seen: dict[tuple[str, str, int, str], list[str]] = {}
    for row in sort_rows(rows):
        for miss in row.get("missed", []):
            key = (row["scenario"], row["strategy"], miss["id"], miss["reason"])
            label = settings_label(row) + _seed_sync_suffix(row, rows)
            seen.setdefault(key, [])
            if label not in seen[key]:
                seen[key].append(label)
    return [
        {"scenario": s, "strategy": st, "id": cid, "reason": reason, "settings": labels}
        for (s, st, cid, reason), labels in sorted(seen.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]))
    ]


def _seed_sync_suffix(row: Row, rows: Sequence[Row]) -> str:
    """ ", seed 2, sync 1" when the rows span several seeds or syncs, so labels stay unambiguous."""
    scenario_rows = [r for r in rows if r["scenario"] == row["scenario"]]
    parts = []
    if len({r.get("seed") for r in scenario_rows}) > 1:
        parts.append(f"seed {row.get('seed')}")
    if len({r.get("sync", 0) for r in scenario_rows}) > 1:
        parts.append(f"sync {row.get('sync', 0)}")
    return "".join(f", {p}" for p in parts)


# --- why two strategies differ ---------------------------------------------------------------


@dataclass(frozen=True)
class _Accounting:
    """What a row says about the conversations whose messages it fetched (`fetched` and `rest` None if unknown)."""

    calls: int
    throttled: int
    fetched: int | None
    found: int
    expected: int
    overfetched: int
    incomplete: int
    ahead: int
    rest: int | None


def _accounting(row: Row) -> _Accounting:
    """The row's message fetches split into found, over-fetched, incomplete, ahead of time and the rest."""
    incomplete = sum(1 for m in row.get("missed", []) if reason_code(m["reason"]) == "messages-incomplete")
    calls = sum(row.get("calls_by_endpoint", {}).get(e, 0) for e in MESSAGE_ENDPOINTS)
    fetched = calls - row.get("rate_limited", 0) if calls else None
    ahead = row.get("ahead", 0)
    rest = None if fetched is None else fetched - row["conversations_found"] - row["overfetched"] - incomplete - ahead
    return _Accounting(
        calls=calls,
        throttled=row.get("rate_limited", 0),
        fetched=fetched,
        found=row["conversations_found"],
        expected=row["conversations_expected"],
        overfetched=row["overfetched"],
        incomplete=incomplete,
        ahead=ahead,
        rest=rest,
    )


def _accounting_text(strategy: str, acc: _Accounting) -> str:
    """One sentence splitting a strategy's message fetches into what the row can classify."""
    found, expected, over = acc.found, acc.expected, acc.overfetched
    if acc.fetched is None:
        return (
            f"{strategy} found {found} of {expected} expected conversations and over-fetched {over}"
            " (the row has no per-conversation message calls to account for)."
        )
    throttled = f" less {acc.throttled} throttled calls" if acc.throttled else ""
    terms = [f"{found} expected and found", f"{over} over-fetched (nothing new)"]
    if acc.incomplete:
        terms.append(f"{acc.incomplete} stored with messages missing")
    if acc.ahead:
        terms.append(f"{acc.ahead} ahead of time (news that arrived while the sync ran)")
    rest = acc.rest or 0
    if rest > 0:
        terms.append(f"{rest} the row does not classify ({UNCLASSIFIED_EXAMPLES})")
    text = f"{strategy} made {acc.calls} message calls{throttled} = {acc.fetched} fetches = " + " + ".join(terms)
    if rest < 0:
        text += f" ({-rest} more than the fetches: the figures do not add up, e.g. a listing that carried messages)"
    return text + "."


def _miss_items(has: Row, lacks: Row) -> list[dict[str, Any]]:
    """Conversations `lacks` missed and `has` did not: each a miss, with the reason `lacks` gave.

    `certain` is False when the two rows were judged against truths of different sizes: then `has`
    not listing an id as missed may only mean it was never expected to fetch it.
    """
    had = {m["id"] for m in has.get("missed", [])}
    certain = has["conversations_expected"] == lacks["conversations_expected"]
    return [
        {
            "id": m["id"],
            "has": has["strategy"],
            "lacks": lacks["strategy"],
            "kind": "miss",
            "reason": m["reason"],
            "certain": certain,
        }
        for m in sorted(lacks.get("missed", []), key=lambda m: m["id"])
        if m["id"] not in had
    ]


def _gap_text(a: Row, b: Row, acc_a: _Accounting, acc_b: _Accounting) -> str:
    """Why one strategy fetched more than the other, term by term (only when both fetch counts are known)."""
    if acc_a.fetched is None or acc_b.fetched is None:
        return ""
    more, less, m, n = (a, b, acc_a, acc_b) if acc_a.fetched >= acc_b.fetched else (b, a, acc_b, acc_a)
    gap = abs(acc_a.fetched - acc_b.fetched)
    if gap == 0:
        return f" Both made {acc_a.fetched} fetches."
    found = m.found - n.found
    ahead = m.ahead - n.ahead
    terms = [
        f"{found:+d} found" + (f" (conversations {less['strategy']} missed)" if found > 0 else ""),
        f"{m.overfetched - n.overfetched:+d} over-fetched",
    ]
    if ahead:
        terms.append(f"{ahead:+d} ahead of time")
    # fetched = found + overfetched + incomplete + ahead + rest, so the gap's unclassified part
    # (the rest and the conversations stored with messages missing) is what the other terms leave
    rest = gap - found - (m.overfetched - n.overfetched) - ahead
    if rest:
        terms.append(f"{rest:+d} the rows do not classify")
    return f" {more['strategy']} made {gap} more fetches than {less['strategy']}: {gap} = " + " ".join(terms) + "."


def _miss_text(items: list[dict[str, Any]]) -> str:
    """The conversations one strategy stored and the other missed, with the recorded reasons."""
    if not items:
        return ""
    lacks, has = items[0]["lacks"], items[0]["has"]
    listed = "; ".join(f"{i['id']} ({reason_code(i['reason'])})" for i in items)
    them = "it" if len(items) == 1 else "them"
    if all(i["certain"] for i in items):
        return f" {lacks} missed {len(items)} that {has} stored: {listed}."
    return (
        f" {lacks} missed {len(items)}: {listed}; {has} does not list {them} as missed, but with a different"
        f" truth it may not have been expected to fetch {them}."
    )


def _pair(a: Row, b: Row, label: str) -> dict[str, Any]:
    """The explanation of how two strategies' rows at the same settings differ."""
    acc_a, acc_b = _accounting(a), _accounting(b)
    items = _miss_items(a, b) + _miss_items(b, a)
    text = _accounting_text(a["strategy"], acc_a) + " " + _accounting_text(b["strategy"], acc_b)
    if acc_a.expected != acc_b.expected:
        text += (
            f" They were judged against different ground truths ({acc_a.expected} vs {acc_b.expected}"
            " expected conversations, e.g. a full sync against an incremental one), so only the ids one of them"
            " missed can be compared, not their totals."
        )
    else:
        text += _gap_text(a, b, acc_a, acc_b)
    text += _miss_text(_miss_items(a, b)) + _miss_text(_miss_items(b, a))
    if not items:
        text += " Neither missed a conversation the other stored."
    for row in (a, b):
        if row.get("status") != "ok":
            error = row.get("error") or "no reason recorded"
            text += f" {row['strategy']} failed ({error}), so its figures are partial."
    return {
        "scenario": a["scenario"],
        "seed": a.get("seed"),
        "sync": a.get("sync", 0),
        "settings": label,
        "first": a["strategy"],
        "second": b["strategy"],
        "conversations": items,
        "overfetched": {a["strategy"]: a["overfetched"], b["strategy"]: b["overfetched"]},
        "text": text,
    }


def explain_differences(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """For each pair of strategies at the same settings: which conversations one has and the other lacks, and why.

    Rows carry missed ids with reasons but only a count of over-fetched conversations, so misses are
    listed by id and over-fetch by count; fetches the row cannot classify are said to be so. Rows
    without ground truth (a real API: coverage null) have nothing to compare and are left out.
    """
    out: list[dict[str, Any]] = []
    for group in _by_settings(r for r in rows if r.get("coverage") is not None).values():
        for a, b in combinations(group, 2):
            if a["strategy"] != b["strategy"]:
                out.append(_pair(a, b, settings_label(a) + _seed_sync_suffix(a, rows)))
    return out


# --- why scaling is sub-linear ---------------------------------------------------------------


def _series(rows: Sequence[Row]) -> dict[tuple[Any, ...], list[Row]]:
    """Parallel runs of the same work across worker counts, each ordered by workers."""
    series: dict[tuple[Any, ...], list[Row]] = {}
    for row in sort_rows(rows):
        if row["fanout"] == "sequential" or not _ok(row):
            continue
        key = (*group_key(row), row.get("seed"), row.get("account_workers", 1))
        series.setdefault(key, []).append(row)
    return series


def _speedup_sentence(name: str, runs: list[Row], rows: Sequence[Row]) -> str:
    """Time and speedup at each worker count against the ideal linear speedup."""
    gains = [speedup(r, rows) for r in runs]
    steps = ", ".join(
        f"{r['workers']} workers {r['makespan_s']:.2f} s" + (f" ({g:.1f}x)" if g is not None else "")
        for r, g in zip(runs, gains, strict=True)
    )
    base = baseline_row(runs[0], rows)
    head = f"{name}: " + (f"sequential {base['makespan_s']:.2f} s, " if _ok(base) and base is not None else "")
    last = runs[-1]
    ideal = ""
    if gains[-1] is not None and base is not None:
        ideal = f"; linear scaling would give {last['workers'] / base['workers']:.0f}x at {last['workers']} workers"
    return head + steps + ideal + "."


def _step_sentence(runs: list[Row]) -> str:
    """What the last increase in workers bought, which is where sub-linearity shows most."""
    if len(runs) < 2:
        return ""
    prev, last = runs[-2], runs[-1]
    gain = prev["makespan_s"] / last["makespan_s"]
    return (
        f" Going from {prev['workers']} to {last['workers']} workers ({last['workers'] / prev['workers']:.1f}x the"
        f" workers) made it {gain:.2f}x as fast ({prev['makespan_s']:.2f} s to {last['makespan_s']:.2f} s)."
    )


def _throttle_sentence(runs: list[Row]) -> str:
    """Whether the rate limit binds, and from which worker count."""
    hit = [r for r in runs if r.get("rate_limited", 0) > 0]
    if not hit:
        return " No call was throttled at any of these worker counts, so the rate limit is not what caps the speedup."
    first, worst = hit[0], max(hit, key=lambda r: (r["rate_limited"], r["workers"]))
    share = worst["rate_limited"] / worst["api_calls"] if worst["api_calls"] else 0.0
    return (
        f" Throttling binds from {first['workers']} workers: at {worst['workers']} workers {worst['rate_limited']} of"
        f" {worst['api_calls']} calls ({share:.0%}) were throttled and {worst.get('retries', 0)} retries made,"
        " time spent waiting for the rate limit's window instead of working."
    )


def _bound_sentence(last: Row) -> str:
    """How far the widest run is from the lower bound that no worker count can beat."""
    bound, time_s = last.get("lower_bound_s", 0.0), last["makespan_s"]
    if bound <= 0:
        return ""
    text = (
        f" At {last['workers']} workers it takes {time_s:.2f} s against a lower bound of {bound:.2f} s"
        f" (efficiency {last['efficiency']:.0%}; the bound is the longer of the critical path and the rate-limit floor)"
    )
    if last["efficiency"] >= NEAR_BOUND:
        return text + f": at most {time_s - bound:.2f} s is left for more workers to win."
    return text + f": {time_s - bound:.2f} s above the bound."


def _phase_sentence(first: Row, last: Row) -> str:
    """Phases that keep their length as workers are added: the serial part that caps the speedup (Amdahl)."""
    before, after = first.get("phase_seconds", {}), last.get("phase_seconds", {})
    flat = [
        (phase, after[phase])
        for phase in sorted(after)
        if before.get(phase, 0) > 0
        and after[phase] >= FLAT_PHASE_SHARE * before[phase]
        and after[phase] >= MIN_PHASE_SHARE * last["makespan_s"]
    ]
    if not flat or last["makespan_s"] <= 0:
        return ""
    parts = ", ".join(f"{phase} {secs:.2f} s ({secs / last['makespan_s']:.0%} of the run)" for phase, secs in flat)
    return (
        f" Some phases do not shrink from {first['workers']} to {last['workers']} workers: {parts};"
        " that serial part bounds the speedup however many workers run the rest."
    )


def _figures(row: Row) -> tuple[Any, ...]:
    """The figures that make two runs of the same work indistinguishable for scaling purposes."""
    return row["workers"], row["makespan_s"], row["api_calls"], row["rate_limited"], row.get("lower_bound_s")


def _idle_sentence(last: Row) -> str:
    """Time with no phase active: phases may overlap, so makespan minus their sum is a floor on idle time."""
    busy = sum(last.get("phase_seconds", {}).values())
    idle = last["makespan_s"] - busy
    if idle < MIN_PHASE_SHARE * last["makespan_s"]:
        return ""
    return (
        f" Its phases add up to only {busy:.2f} s of the {last['makespan_s']:.2f} s, so for at least {idle:.2f} s"
        " no request or store write was in progress: workers were waiting (e.g. backing off after throttling)."
    )


def scaling_notes(rows: Sequence[Row]) -> list[str]:
    """Sentences, one per parallel line of runs, explaining from the rows' figures why speedup is sub-linear."""
    notes: list[str] = []
    scenarios = {r["scenario"] for r in rows}
    said: dict[tuple[Any, ...], str] = {}
    for key, runs in _series(rows).items():
        scenario, strategy, fanout = key[0], key[1], key[2]
        name = f"{strategy} / {fanout}"
        if options_label(runs[0]):
            name += f" ({options_label(runs[0])})"
        name += _seed_sync_suffix(runs[0], rows)
        if len(scenarios) > 1:
            name = f"[{scenario}] {name}"
        twin = (key[0], key[1], *key[3:], tuple(_figures(r) for r in runs))
        if twin in said:  # e.g. async matching threads exactly: say so instead of repeating the note
            workers = ", ".join(str(r["workers"]) for r in runs)
            notes.append(f"{name}: the same times, calls and throttling as {said[twin]} at {workers} workers.")
            continue
        said[twin] = fanout
        base = baseline_row(runs[0], rows)
        first = base if _ok(base) and base is not None else runs[0]
        text = _speedup_sentence(name, runs, rows) + _step_sentence(runs) + _throttle_sentence(runs)
        text += _bound_sentence(runs[-1]) + _idle_sentence(runs[-1])
        text += _phase_sentence(first, runs[-1]) if first is not runs[-1] else ""
        notes.append(text)
    return notes
