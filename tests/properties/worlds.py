"""Hypothesis builders of scenario worlds, always built through `Scenario.model_validate`.

Worlds are small (up to 60 conversations per account, 1-3 accounts) so an example
costs a few hundred simulated calls at most. Every builder draws page sizes (1, exact
divisors of the conversation count, small ones, the cap), offset/keyset/cursor paging,
second or millisecond timestamps, orphans, reservation-only updates, 1-3 syncs with new
conversations and messages, rate limits tight enough to throttle, and the simulator's
traps (`[traps]`: cutoff ties, short pages, unsorted listings, late records, clock skew,
unbumped reservations) as far as the strategy under test says it copes with them.

Timelines are `quiet` (nothing arrives while a sync runs: no `during_sync`, syncs hours
apart so a slow sync never runs into the next one's activity) or `busy` (messages arrive
while syncs page, syncs seconds apart).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from bench.api.signals import SIGNALS
from bench.scenario.model import Scenario
from strategies import FANOUTS, Options

__all__ = ["ANY_TRAP", "Assumptions", "Case", "STATED", "cases", "options_for", "scenario_dicts"]

WORKERS = (1, 3, 8)


# Strategies are built once per distinct argument: hypothesis caches what it learns about a
# strategy object, so rebuilding one inside every draw costs more than the draw itself.
@functools.cache
def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@functools.cache
def _pick(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(values)


@dataclass(frozen=True)
class Assumptions:
    """What a strategy's docstring says it needs, beyond a listing that does not change while it
    is paged. A builder breaks only what the strategy does not rely on, unless asked to."""

    sorted_listings: bool = False  # early stop: the server really lists newest first (trap `unsorted`)
    bumps: bool = False  # every new message moves its reservation's updatedOn (trap `unbumped`)
    lookback_covers_lateness: bool = False  # --lookback >= late_arrival_s + clock_skew_s


#: each built-in strategy's stated assumptions (see its docstring; client-filter compares lastMessageAt
#: with the bookmark, which holds the lookback, so it needs the lookback since-incremental states)
STATED: dict[str, Assumptions] = {
    "full-pagination": Assumptions(),
    "client-filter": Assumptions(lookback_covers_lateness=True),
    "since-incremental": Assumptions(lookback_covers_lateness=True),
    "reservation-early-stop": Assumptions(sorted_listings=True, bumps=True, lookback_covers_lateness=True),
}
#: no assumption: every trap may be drawn, and any lookback
ANY_TRAP = Assumptions()


@dataclass(frozen=True)
class Case:
    """One example: a scenario and how to run it."""

    scenario: Scenario
    fanout: str
    options: Options

    def describe(self) -> str:
        s, o = self.scenario, self.options
        nonzero = lambda model: {k: v for k, v in model.model_dump().items() if v and k != "during_sync_window_s"}  # noqa: E731
        return (
            f"seed={s.seed} accounts={s.dataset.accounts} conversations={s.dataset.conversations} "
            f"orphans={s.dataset.orphans} messages={list(s.dataset.messages)} activity={nonzero(s.activity)} "
            f"pagination={s.dialect.pagination} page_size={s.dialect.page_size} "
            f"precision={s.dialect.timestamp_precision} traps={nonzero(s.traps)} "
            f"rate_limit={nonzero(s.rate_limits[0])} next_syncs={[nonzero(n) for n in s.next_syncs]} "
            f"fanout={self.fanout} workers={o.workers} account_workers={o.account_workers} lookback_s={o.lookback_s}"
        )


@functools.cache
def _page_size(conversations: int) -> st.SearchStrategy[int]:
    divisors = [d for d in range(1, conversations + 1) if conversations % d == 0]
    choices = [_pick(*divisors), _ints(2, 7), st.just(100)]  # divisors: the last page is full
    if conversations <= 15:
        choices.insert(0, st.just(1))  # one record per page, kept to small listings for time
    return st.one_of(choices)


@functools.cache
def _conversations(most: int) -> st.SearchStrategy[int]:
    """Mostly small, sometimes up to the maximum: host time grows with the calls a sync makes."""
    return st.one_of(_ints(1, 6), _ints(1, min(20, most)), _ints(1, most))


@st.composite
def _rate_limit(draw: st.DrawFn, tight: bool) -> dict[str, Any]:
    if not tight and draw(st.booleans()):
        return {"algorithm": "none"}
    return {
        "algorithm": "fixed-window",
        "scope": draw(_pick("account", "global", "key")),
        "limit": draw(_ints(2, 4) if tight else _ints(5, 40)),
        "window_s": draw(_pick(1.0, 2.0) if tight else _pick(0.5, 1.0, 2.0)),
    }


@st.composite
def _traps(draw: st.DrawFn, allowed: Assumptions, breaks: str | None) -> dict[str, Any]:
    """Traps the assumptions allow; `breaks` names one assumption to break on purpose."""
    traps: dict[str, Any] = {
        "cutoff_ties": draw(_ints(0, 2)),
        "short_pages": draw(st.booleans()),
    }
    if not allowed.sorted_listings or breaks == "sorted_listings":
        traps["unsorted"] = draw(_ints(1, 2) if breaks == "sorted_listings" else _ints(0, 2))
    if not allowed.bumps or breaks == "bumps":
        traps["unbumped"] = draw(_pick(0.5, 1.0) if breaks == "bumps" else _pick(0.0, 0.5))
    # whole seconds: a second-precision timestamp is floored, so the lateness it shows is rounded up
    traps["late_arrival_s"] = draw(_pick(0.0, 0.0, 0.0, 5.0, 30.0))
    traps["clock_skew_s"] = draw(_pick(0.0, 0.0, 0.0, 10.0))
    if breaks == "lookback_covers_lateness" and not traps["late_arrival_s"] + traps["clock_skew_s"]:
        traps["late_arrival_s"] = 30.0
    return traps


@st.composite
def scenario_dicts(
    draw: st.DrawFn,
    *,
    allowed: Assumptions = ANY_TRAP,
    breaks: str | None = None,
    busy: bool = False,
    tight_limits: bool = False,
    quiet_last_sync: bool = False,
    min_next_syncs: int = 0,
    max_next_syncs: int = 2,
    max_conversations: int = 60,
    max_accounts: int = 3,
    edits: bool = True,
) -> dict[str, Any]:
    """A scenario as the dict a TOML file would give; valid by construction.

    `busy`: messages arrive while syncs run. `quiet_last_sync`: the last sync has no
    activity during it (a busy timeline ends with a quiet catch-up sync). `edits`: later
    syncs see edited and deleted messages, and the `since` filter may take days only.
    """
    conversations = draw(_conversations(max_conversations))
    orphans = draw(_ints(0, conversations))
    booked = conversations - orphans
    active_orphans = draw(_ints(0, orphans))
    active_booked = draw(_ints(0, booked))
    page_size = draw(_page_size(conversations))
    during = _ints(1, 4) if busy else st.just(0)
    window = _pick((0.0, 1.0), (0.5, 5.0), (0.2, 20.0))
    count = draw(_ints(min_next_syncs, max_next_syncs))
    next_syncs = [
        {
            # a quiet last sync starts an hour later: the busy ones before it (their messages arriving
            # up to 20 s into them, their throttled calls) are over by then
            "after_s": draw(
                _pick(3.0, 10.0, 45.5) if busy and not (quiet_last_sync and k == count - 1) else _pick(3600.0, 86400.0)
            ),
            "new_conversations": draw(_ints(0, 3)),
            "new_messages": draw(_ints(0, 5)),
            "reservation_only": draw(_ints(0, 2)),
            "edited_messages": draw(_ints(0, 2)) if edits else 0,
            "deleted_messages": draw(_ints(0, 1)) if edits else 0,
            "during_sync": 0 if (k == count - 1 and quiet_last_sync) else draw(during),
            "during_sync_window_s": draw(window),
        }
        for k in range(count)
    ]
    return {
        "name": "property",
        "seed": draw(_ints(0, 2**16)),
        "dataset": {
            "accounts": draw(_pick(*(a for a in (1, 1, 2, 3) if a <= max_accounts))),
            "conversations": conversations,
            "orphans": orphans,
            "messages": [1, draw(_ints(1, 2))],
            "history_days": 10,
        },
        "activity": {
            "first_sync": draw(_pick(False, False, False, True)),
            "cutoff_ago_s": draw(_pick(3600.0, 86400.0)),
            "active": active_orphans + active_booked,
            "active_orphans": active_orphans,
            "reservation_only": draw(_ints(0, booked - active_booked)),
            "during_sync": 0 if (quiet_last_sync and count == 0) else draw(during),
            "during_sync_window_s": draw(window),
        },
        "dialect": {
            "pagination": draw(_pick("offset", "keyset", "cursor")),
            "page_size": page_size,
            "max_page_size": max(page_size, 100),
            "timestamp_precision": draw(_pick("s", "ms")),
            "since_format": draw(_pick("timestamp", "date")) if edits else "timestamp",
            "throttle_signal": draw(_pick(*SIGNALS)),
        },
        "traps": draw(_traps(allowed, breaks)),
        "rate_limit": draw(_rate_limit(tight_limits)),
        "latency": {"jitter_sigma": draw(_pick(0.0, 0.15))},
        "next_syncs": next_syncs,
    }


@st.composite
def options_for(draw: st.DrawFn, scenario: Scenario, *, allowed: Assumptions, breaks: str | None = None) -> Options:
    """Run settings: workers 1, 3 or 8, account workers, write mode, and a lookback that covers the
    world's lateness when the strategy relies on it (and falls short of it when that is broken).
    Retries are generous: throttling must slow a sync down, never make it give up."""
    lateness = scenario.traps.late_arrival_s + scenario.traps.clock_skew_s
    if breaks == "lookback_covers_lateness":
        lookback = draw(_pick(0.0, lateness / 2))
    elif allowed.lookback_covers_lateness:
        lookback = lateness + draw(_pick(0.0, 2.0))
    else:
        lookback = draw(_pick(0.0, 2.0, 30.0))
    write_mode = draw(_pick("row", "bulk", "chunked"))
    return Options(
        workers=draw(_pick(*WORKERS)),
        account_workers=draw(_pick(1, 3)),
        max_retries=60,
        lookback_s=lookback,
        write_mode=write_mode,
        chunk_size=draw(_ints(1, 4)) if write_mode == "chunked" else 500,
    )


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    allowed: Assumptions = ANY_TRAP,
    breaks: str | None = None,
    fanout: str | None = None,
    busy: bool = False,
    tight_limits: bool | None = None,
    quiet_last_sync: bool = False,
    min_next_syncs: int = 0,
    max_next_syncs: int = 2,
    max_conversations: int = 60,
    max_accounts: int = 3,
    edits: bool = True,
) -> Case:
    """A scenario within `allowed` (breaking `breaks`), a fan-out mode and run options."""
    tight = draw(_pick(False, False, False, True)) if tight_limits is None else tight_limits
    raw = draw(
        scenario_dicts(
            allowed=allowed,
            breaks=breaks,
            busy=busy,
            tight_limits=tight,
            quiet_last_sync=quiet_last_sync,
            min_next_syncs=min_next_syncs,
            max_next_syncs=max_next_syncs,
            max_conversations=max_conversations,
            max_accounts=max_accounts,
            edits=edits,
        )
    )
    scenario = Scenario.model_validate(raw)
    chosen = fanout or draw(_pick(*FANOUTS))
    return Case(scenario, chosen, draw(options_for(scenario, allowed=allowed, breaks=breaks)))
