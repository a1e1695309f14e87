"""One result row from a sync's trace, its store and the ground truth (docs/design.md, Contracts)."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from typing import Any, NamedTuple

from bench.measure.bounds import rate_limit_bound
from bench.measure.row import COVERAGE_FIELDS
from bench.store import SqliteStore
from bench.transport.trace import TraceEntry
from bench.world.records import Message, World
from bench.world.truth import Truth
from strategies import DriverStats

__all__ = ["LISTING_ENDPOINTS", "diagnose", "measure", "union_seconds"]

LISTING_ENDPOINTS = ("reservations", "conversations")


def r6(x: float) -> float:
    """Floats in results are rounded to microseconds."""
    return round(x, 6) + 0.0


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """Total time covered by possibly overlapping intervals."""
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def diagnose(
    cid: int,
    required: frozenset[int],
    world: World,
    store_ids: set[int],
    trace: list[TraceEntry],
    since_t: float | None,
    lookback_s: float = 0.0,
    stale: str | None = None,
) -> str:
    """Why an expected conversation is missing: the trap or mechanism that lost it, causes before symptoms.

    `stale` names the symptom when every message it lacks is stored in an older version."""
    conv = world.conversations[cid]
    scenario = world.scenario
    start_ms = scenario.start_ms
    new = [e for m in conv.messages if m.id in required for e in _events(m, since_t)]
    incomplete = stale or "messages-incomplete: the conversation is stored but some of its new messages are not"
    since_ms = None if since_t is None else start_ms + round(since_t * 1000)
    if since_ms is not None and since_t is not None:
        lookback_ms = round(lookback_s * 1000)

        def late(e: _Event) -> bool:
            """Stamped before the bookmark that should have caught it; for a miss carried from an
            earlier sync, later than the lookback could cover."""
            lateness = start_ms + e.visible_t * 1000 - e.stamp_ms
            if e.visible_t >= since_t:
                return lateness > 1000 and e.stamp_ms < since_ms - lookback_ms
            return lateness > 1000 + lookback_ms

        if any(late(m) for m in new):
            traps = scenario.traps
            return (
                f"late-arrival: a message appeared after the bookmark but is stamped before it (records land up to "
                f"{traps.late_arrival_s:g} s late, timestamps run {traps.clock_skew_s:g} s behind); "
                "a lookback of at least lateness + skew covers it"
            )
    listed = {c for e in trace if e.endpoint in ("conversations", "reservation_conversations") for c in e.conversations}
    via_reservation = {c for e in trace if e.endpoint == "reservation_conversations" for c in e.conversations}
    fetched = {c for e in trace if e.endpoint == "messages" and e.status == 200 for c in e.conversations}
    endpoints = {e.endpoint for e in trace if not e.throttled}
    if (cid in world.unsorted_conversations and cid not in listed) or (
        "reservations" in endpoints
        and conv.reservation_id in world.unsorted_reservations
        and cid not in via_reservation
    ):
        return (
            "unsorted-listing: the server listed it (or its reservation) among older records, "
            "so early stop never reached it"
        )
    if "reservations" in endpoints and conv.reservation_id is not None and new and not any(e.bumps for e in new):
        return "reservation-not-updated: its new messages (or edits) did not bump the reservation's updatedOn"
    if stale or (cid in store_ids and cid in fetched):
        return incomplete
    if cid in listed:
        if since_ms is not None and new and max(e.stamp_ms for e in new) == since_ms:
            return "cutoff-tie: its lastMessageAt equals the bookmark and was compared with a strict >"
        return "filtered-out: listed, but its lastMessageAt was judged older than the bookmark"
    listings = [e for e in trace if e.endpoint == "conversations" and not e.throttled]
    if conv.reservation_id is None and "reservation_conversations" in endpoints and not listings:
        return "no-reservation: the conversation has no reservation and no conversation listing was read"
    if listings:
        first, last = min(e.start for e in listings), max(e.end for e in listings)
        if _changed_between(world, first, last):
            how = {"offset": "with offsets", "keyset": "by afterId", "cursor": "by cursor"}
            return (
                f"shifted-between-pages: the listing changed while it was paged {how[scenario.dialect.pagination]}, "
                "and the record moved to a page already read"
            )
        if scenario.traps.short_pages:
            return "short-page: paging stopped early, and this API returns short pages that are not the last"
        return "early-stop: the listing stopped before reaching it"
    if cid in store_ids:
        return incomplete
    return "never-requested: no call of the sync could have returned it"


def _stale(lacking: frozenset[int], truth: Truth, stored: dict[int, tuple[int, bool]]) -> str | None:
    """Why a conversation is incomplete when every message it lacks is stored, but as an older version."""
    if not lacking or any(mid not in stored for mid in lacking):
        return None
    if any(truth.versions[mid][1] for mid in lacking):
        return "deletion-not-seen: a message deleted since the bookmark is still stored as live"
    return "edit-not-seen: a message edited since the bookmark is stored as it was before the edit"


def _changed_between(world: World, lo: float, hi: float) -> bool:
    """Whether any message appeared, or was edited or deleted, in (lo, hi]."""
    timeline = world.timeline()
    return any(
        bisect.bisect_right(times, hi) > bisect.bisect_right(times, lo)
        for times in (timeline.message_t, timeline.change_t)
    )


class _Event(NamedTuple):
    """A message's arrival or one of its edits, as the API stamped it."""

    visible_t: float
    stamp_ms: int
    bumps: bool


def _events(m: Message, since_t: float | None) -> list[_Event]:
    """What made `m` required: its arrival and edits in the sync's window; for a message
    carried from an earlier window, its latest event."""
    events = [_Event(m.visible_t, m.sent_ms, m.bumps)]
    events += [_Event(c.visible_t, c.edited_ms, c.bumps) for c in m.changes]
    lo = -math.inf if since_t is None else since_t
    return [e for e in events if e.visible_t >= lo] or events[-1:]


def measure(
    *,
    world: World | None,
    truth: Truth | None,
    trace: list[TraceEntry],
    store: SqliteStore,
    stats: DriverStats,
    start_t: float,
    end_t: float,
    peak_concurrency: int,
    connections: int,
    since_t: float | None,
    status: str,
    lookback_s: float = 0.0,
    error: str | None,
) -> dict[str, Any]:
    """The measured fields of a result row for the sync that ran from `start_t` to `end_t`, in the
    row contract's order (bench/measure/row.py). Without a world (a real API) there is no truth:
    the coverage fields are null and the lower bound is the critical path alone."""
    makespan = end_t - start_t
    phases: dict[str, list[tuple[float, float]]] = {}
    for e in trace:
        phases.setdefault(e.phase or "other", []).append((e.start, e.end))
    if stats.store_spans:
        phases["store"] = stats.store_spans
    calls = Counter(e.endpoint for e in trace)
    pages = Counter(e.endpoint for e in trace if e.endpoint in LISTING_ENDPOINTS and e.status == 200)
    bound = rate_limit_bound(trace, world.scenario) if world is not None else 0.0
    lower = max(stats.critical_path_s, bound) if status == "ok" else 0.0
    coverage = (
        _coverage(world, truth, trace, store, since_t, lookback_s, None if status == "ok" else error or status)
        if world is not None and truth is not None
        else dict.fromkeys(COVERAGE_FIELDS) | {"missed": []}
    )
    return {
        "status": status,
        "error": error,
        "makespan_s": r6(makespan),
        "phase_seconds": {k: r6(union_seconds(v)) for k, v in sorted(phases.items())},
        "api_calls": len(trace),
        "calls_by_endpoint": dict(sorted(calls.items())),
        "pages_by_endpoint": dict(sorted(pages.items())),
        "rate_limited": sum(e.throttled for e in trace),
        "retries": stats.retries,
        "peak_concurrency": peak_concurrency,
        "connections": connections,
        **coverage,
        "lower_bound_s": r6(lower),
        "efficiency": r6(lower / makespan) if makespan > 0 and lower > 0 else 0.0,
    }


def _coverage(
    world: World,
    truth: Truth,
    trace: list[TraceEntry],
    store: SqliteStore,
    since_t: float | None,
    lookback_s: float,
    failure: str | None = None,
) -> dict[str, Any]:
    """The coverage fields: what the store holds against the truth, each missed conversation with its reason.

    A sync that failed (`failure`, its error) lost what it misses to the failure, whatever else it met."""
    stored_versions = store.message_versions()
    held = truth.held(stored_versions)
    stored_convs = store.conversation_ids()
    found = [cid for cid, msgs in truth.conversations.items() if cid in stored_convs and msgs <= held]
    missing = sorted(set(truth.conversations) - set(found))
    fetched = {c for e in trace if e.endpoint == "messages" and e.status == 200 for c in e.conversations}
    return {
        "conversations_expected": len(truth.conversations),
        "conversations_found": len(found),
        "conversations_missed": len(missing),
        "missed": [
            {
                "id": cid,
                "reason": f"sync-failed: the sync stopped before storing it ({failure})"
                if failure is not None
                else diagnose(
                    cid,
                    truth.conversations[cid],
                    world,
                    stored_convs,
                    trace,
                    since_t,
                    lookback_s,
                    _stale(truth.conversations[cid] - held, truth, stored_versions),
                ),
            }
            for cid in missing
        ],
        "overfetched": len(fetched & truth.quiet),
        "ahead": len(fetched - truth.quiet - set(truth.conversations)),
        "duplicates": store.duplicates,
        "messages_expected": truth.messages,
        "messages_stored": sum(len(msgs & held) for msgs in truth.conversations.values()),
        "coverage": r6(len(found) / len(truth.conversations)) if truth.conversations else 1.0,
    }
