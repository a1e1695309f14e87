"""A state machine over one world: syncs with random strategies, fan-out modes and worker counts,
interleaved with API activity (new, edited and deleted messages) piling up and throttling storms.

The world is built up front with many scheduled syncs (`next_syncs`), each with new
conversations and messages before it and, for some, messages arriving while it runs;
the machine chooses which scheduled sync runs next (skipping some lets activity pile up),
with which strategy, fan-out mode and workers, and under which rate limit (a storm is a
tight limit for the next sync). Every strategy runs within the assumptions all built-ins
state (sorted listings, bumped reservations, lookback >= lateness + skew); ties and short
pages are on when drawn.
"""

from __future__ import annotations

from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import bench.run.runner
from bench.scenario.model import RateLimit, Scenario
from strategies import FANOUTS, Options
from tests.properties.harness import Session, over_limit, profile
from tests.properties.worlds import STATED, WORKERS, scenario_dicts

BUILTIN = sorted(STATED)
#: the strictest stated assumptions: every built-in is correct in these worlds
ALL_ASSUMPTIONS = STATED["reservation-early-stop"]


@st.composite
def machine_worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A small world with eleven scheduled syncs, some of them busy, all activity decided up front."""
    raw = draw(
        scenario_dicts(
            allowed=ALL_ASSUMPTIONS, busy=True, min_next_syncs=0, max_next_syncs=0, max_conversations=15, max_accounts=2
        )
    )
    raw["next_syncs"] = [
        {
            "after_s": draw(st.sampled_from([3.0, 30.0, 3600.0])),
            "new_conversations": draw(st.integers(0, 2)),
            "new_messages": draw(st.integers(0, 4)),
            "reservation_only": draw(st.integers(0, 1)),
            "edited_messages": draw(st.integers(0, 1)),
            "deleted_messages": draw(st.sampled_from([0, 0, 1])),
            "during_sync": draw(st.sampled_from([0, 0, 1, 3])),
            "during_sync_window_s": (0.2, 5.0),
        }
        for _ in range(10)
    ]
    return raw


class SyncMachine(RuleBasedStateMachine):
    """Interleaves syncs, piled-up activity and throttling storms on one world, store and clock."""

    session: Session

    @initialize(raw=machine_worlds())
    def build_the_world(self, raw: dict[str, Any]) -> None:
        scenario = Scenario.model_validate(raw)
        lateness = scenario.traps.late_arrival_s + scenario.traps.clock_skew_s
        self.session = Session(scenario, lookback_s=lateness)
        self.storm: RateLimit | None = None

    def teardown(self) -> None:
        if hasattr(self, "session"):
            self.session.close()

    @precondition(lambda self: self.session.slots_left > 1)
    @rule(slots=st.integers(1, 2))
    def let_activity_pile_up(self, slots: int) -> None:
        """Scheduled syncs pass without running: their activity waits for the next sync."""
        self.session.skip(slots)

    @rule(limit=st.integers(1, 2), scope=st.sampled_from(["account", "global"]))
    def throttling_storm(self, limit: int, scope: str) -> None:
        """The next sync meets a limit of one or two requests a second."""
        self.storm = RateLimit(algorithm="fixed-window", scope=scope, limit=limit, window_s=1.0)

    @precondition(lambda self: self.session.slots_left > 0)
    @rule(
        strategy=st.sampled_from(BUILTIN),
        fanout=st.sampled_from(FANOUTS),
        workers=st.sampled_from(WORKERS),
        account_workers=st.sampled_from([1, 2]),
    )
    def sync(self, strategy: str, fanout: str, workers: int, account_workers: int) -> None:
        """Run the next scheduled sync."""
        options = Options(
            workers=workers, account_workers=account_workers, max_retries=60, lookback_s=self.session.lookback_ms / 1000
        )
        step = self.session.sync(strategy, fanout, options, self.storm)
        # every sync in these worlds must succeed: a failed one would skip the main check (a dialect
        # a strategy cannot speak would never be checked at all)
        assert step.row["status"] == "ok", f"{strategy} sync {step.index} failed: {step.row['error']}"
        event(f"sync: {'quiet' if self.session.quiet(step) else 'busy'}, {step.row['status']}")
        event(
            f"sync: {'throttled' if step.row['rate_limited'] else 'not throttled'}{' in a storm' if self.storm else ''}"
        )
        self.storm = None

    @invariant()
    def a_quiet_sync_leaves_nothing_behind(self) -> None:
        """After a successful sync during which nothing changed, every message owed since the cutoff is stored."""
        if not self.session.steps:
            return
        step = self.session.steps[-1]
        if step.row["status"] != "ok" or not self.session.quiet(step):
            return
        assert self.session.unstored(step.start_t) == set(), f"after {step.strategy} sync {step.index}"
        assert step.row["missed"] == [], f"after {step.strategy} sync {step.index}"

    @invariant()
    def the_server_never_admits_more_than_its_limit(self) -> None:
        """The server's own accounting of admitted requests stays within the rate limit of every window."""
        for step in self.session.steps[-1:]:
            assert over_limit(step.admitted, step.rate_limit) == []

    @invariant()
    def the_store_never_holds_a_duplicate_id(self) -> None:
        """Messages and conversations are stored once each, whatever the fan-out repeated."""
        message_rows, message_ids, conversation_rows, conversation_ids = self.session.store_rows()
        assert (message_rows, conversation_rows) == (message_ids, conversation_ids)

    @invariant()
    def a_bookmark_never_passes_the_server_start(self) -> None:
        """Each bookmark a sync wrote is at most the server's time of its first admitted request minus the lookback."""
        start_ms = self.session.scenario.start_ms
        for step in self.session.steps[-1:]:
            first = step.admitted[0][1] if step.admitted else None
            for account, value in step.bookmarks.items():
                if value is not None and value != step.bookmarks_before[account]:
                    assert first is not None
                    assert value <= start_ms + first * 1000 - step.lookback_ms


SyncMachine.TestCase.settings = profile(weight=0.5)
TestSyncMachine = SyncMachine.TestCase


def test_the_session_mirrors_the_runner() -> None:
    """Session, which steps syncs one at a time, gives the runner's rows for the same strategy on every sync."""
    raw = {
        "name": "mirror",
        "seed": 3,
        "dataset": {"accounts": 2, "conversations": 12, "orphans": 2, "messages": [1, 3], "history_days": 10},
        "activity": {"cutoff_ago_s": 3600, "active": 5, "active_orphans": 1, "reservation_only": 2, "during_sync": 2},
        "dialect": {"pagination": "offset", "page_size": 4},
        "traps": {"cutoff_ties": 1},
        "rate_limit": {"limit": 5, "window_s": 1.0},
        "latency": {"jitter_sigma": 0},
        "next_syncs": [{"after_s": 3600, "new_conversations": 2, "new_messages": 3, "during_sync": 1}],
    }
    scenario = Scenario.model_validate(raw)
    for strategy in BUILTIN:
        options = Options(workers=3)
        expected = bench.run.runner.run(bench.run.runner.RunSpec(scenario, strategy, "threads", options)).rows
        session = Session(scenario)
        got = [session.sync(strategy, "threads", options).row for _ in scenario.sync_times]
        session.close()
        assert [{k: row[k] for k in got[0]} for row in expected] == got, strategy
