"""The properties can fail: hypothesis finds and shrinks a counterexample for each planted bug.

Each planted strategy (strategies_planted.py) is registered for the test only, next to the
built-ins, and run by the real runner. `hypothesis.find` searches worlds within the correct
strategy's stated assumptions for one where a quiet sync owes the store something (the
property test_no_miss.py holds the built-ins to), within a bounded number of examples, and
shrinks it. The shrunk world must be tiny, and on it neither the correct built-in nor the planted
strategy's own shape without its planted line may miss anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st

from strategies import Strategy
from tests.properties.harness import missing_after, observe_case, quiet, registered
from tests.properties.strategies_planted import (
    EarlyStopOnCreatedAt,
    NewestSeenBookmark,
    StrictCutoff,
    Unplanted,
    client_clock,
)
from tests.properties.worlds import STATED, Case, cases

#: examples find() may try before it must have found a counterexample (shrinking comes after;
#: the explain phase, which only words a failure report, is skipped)
SEARCH = settings(
    max_examples=1500,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def owes(case: Case, strategy: str) -> bool:
    """Whether some quiet sync of the run leaves the store without something it owes."""
    obs = observe_case(case, strategy)
    return any(quiet(obs, sync) and missing_after(obs, sync) for sync in obs.syncs)


@dataclass(frozen=True)
class Planted:
    strategy: type[Strategy] | None  # None: built per example (the client clock needs the world's epoch)
    correct: str
    worlds: st.SearchStrategy[Any]
    #: the shrunk example's (accounts, conversations per account, syncs) may not exceed these
    at_most: tuple[int, int, int]


def small(**kwargs: Any) -> st.SearchStrategy[Case]:
    """Worlds for the search: a few conversations, no throttling, one fan-out mode, no edits (cheap to
    run while shrinking; none of the planted bugs is about edits)."""
    return cases(
        allowed=STATED["client-filter"],
        tight_limits=False,
        fanout="sequential",
        edits=False,
        **{"max_conversations": 12, **kwargs},
    )


#: one account, busy syncs seconds apart, then a quiet one an hour later (cheap enough to shrink quickly)
timelines = small(busy=True, quiet_last_sync=True, min_next_syncs=1, max_conversations=6, max_accounts=1)

PLANTED = [
    pytest.param(Planted(StrictCutoff, "client-filter", small(), (1, 1, 1)), id="strict-greater-than-at-cutoff"),
    pytest.param(
        Planted(EarlyStopOnCreatedAt, "client-filter", small(), (1, 2, 1)), id="early-stop-on-a-key-not-sorted-by"
    ),
    pytest.param(
        Planted(NewestSeenBookmark, "client-filter", timelines, (1, 4, 3)), id="bookmark-is-newest-record-seen"
    ),
    pytest.param(
        Planted(None, "client-filter", st.tuples(timelines, st.sampled_from([1.0, 5.0, 30.0])), (1, 1, 2)),
        id="bookmark-from-skewed-client-clock",
    ),
]


def runner_for(planted: Planted) -> Callable[[Any], tuple[Case, type[Strategy]]]:
    def split(example: Any) -> tuple[Case, type[Strategy]]:
        if planted.strategy is not None:
            return example, planted.strategy
        case, skew_s = example
        return case, client_clock(case.scenario.start_ms / 1000, skew_s)

    return split


@pytest.mark.parametrize("planted", PLANTED)
def test_hypothesis_finds_and_shrinks_the_planted_bug(planted: Planted) -> None:
    """Within 1,500 examples hypothesis finds a world the planted strategy under-syncs, shrunk to a few records."""
    split = runner_for(planted)

    def broken(example: Any) -> bool:
        case, cls = split(example)
        with registered(cls):
            return owes(case, cls.name)

    example = find(planted.worlds, broken, settings=SEARCH)
    case, cls = split(example)
    scenario = case.scenario
    accounts, conversations, syncs = planted.at_most
    assert scenario.dataset.accounts <= accounts, case.describe()
    assert scenario.dataset.conversations <= conversations, case.describe()
    assert len(scenario.sync_times) <= syncs, case.describe()
    assert not owes(case, planted.correct), f"{planted.correct} fails too: {case.describe()}"
    with registered(Unplanted):
        assert not owes(case, Unplanted.name), f"the strategy fails without the planted line: {case.describe()}"
