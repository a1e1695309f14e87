"""Edited and deleted messages in a sync timeline: what the API shows, what the truth owes, and
how a client that ignores edits is caught."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bench.run.runner import RunSpec, run
from bench.scenario.model import Scenario
from bench.world.dataset import generate
from bench.world.truth import truth_for
from strategies import Options, available
from strategies.profile import ApiProfile

#: Two syncs; between them 6 older messages are edited and 3 deleted.
TIMELINE: dict[str, Any] = {
    "dataset": {"conversations": 40, "messages": [2, 5]},
    "activity": {"cutoff_ago_s": 3600, "active": 5, "edited": 2, "deleted": 1},
    "next_syncs": [{"after_s": 600, "new_messages": 4, "edited_messages": 6, "deleted_messages": 3}],
}


def _changed(scenario: Scenario) -> dict[int, list[Any]]:
    world = generate(scenario)
    return {m.id: m.changes for m in world.messages() if m.changes}


def test_the_timeline_edits_and_deletes_distinct_older_messages(make_scenario: Callable[..., Scenario]) -> None:
    scenario = make_scenario(**TIMELINE)
    changes = _changed(scenario)
    assert sum(1 for cs in changes.values() for c in cs if c.deleted) == 1 + 3
    assert sum(1 for cs in changes.values() for c in cs if not c.deleted) == 2 + 6
    world = generate(scenario)
    for m in world.messages():
        for change in m.changes:
            assert change.visible_t > m.visible_t and change.edited_ms >= m.sent_ms


def test_without_edits_the_world_is_unchanged(make_scenario: Callable[..., Scenario]) -> None:
    """Edits draw from the seed only when asked for, so existing scenarios keep their worlds."""
    plain = generate(make_scenario(dataset={"conversations": 40}))
    edited = generate(make_scenario(dataset={"conversations": 40}, activity={"edited": 3}))
    assert [(m.id, m.sent_ms) for m in plain.messages()] == [(m.id, m.sent_ms) for m in edited.messages()]


def test_the_api_shows_edits_and_tombstones_from_when_they_happen(
    make_scenario: Callable[..., Scenario], api_for: Callable[..., Any]
) -> None:
    scenario = make_scenario(**TIMELINE)
    world = generate(scenario)
    edit = next(m for m in world.messages() if m.changes and not m.changes[0].deleted and m.changes[0].visible_t > 0)
    gone = next(m for m in world.messages() if m.changes and m.changes[-1].deleted and m.changes[-1].visible_t > 0)
    for message, change in ((edit, edit.changes[0]), (gone, gone.changes[-1])):
        path = f"/v1/accounts/acc-1/conversations/{message.conversation_id}/messages"
        get = api_for(world)  # a fresh API each time: its clock only moves forward
        _, _, before = get(path, t=change.visible_t - 1)
        _, _, after = get(path, t=change.visible_t)
        old = next(r for r in before["result"] if r["id"] == message.id)
        new = next(r for r in after["result"] if r["id"] == message.id)
        assert "editedAt" not in old and old["body"]
        assert "editedAt" in new
        assert new.get("deleted", False) == change.deleted
        assert (new["body"] is None) == change.deleted


def test_the_truth_owes_the_version_at_the_sync_start(make_scenario: Callable[..., Scenario]) -> None:
    scenario = make_scenario(**TIMELINE)
    world = generate(scenario)
    second = scenario.sync_times[1]
    truth = truth_for(world, since_t=0.0, start_t=second, end_t=second + 10)
    changed = {m.id: m for m in world.messages() if any(0 <= c.visible_t <= second for c in m.changes)}
    assert set(changed) <= {mid for ids in truth.conversations.values() for mid in ids}
    assert {mid: v for mid, v in truth.versions.items() if mid in changed} == {
        mid: (m.changes[-1].edited_ms, m.changes[-1].deleted) for mid, m in changed.items()
    }
    live = dict.fromkeys(changed, (0, False))
    assert not truth.held(live) & {mid for mid, m in changed.items() if not m.changes[-1].deleted}
    never_stored = truth.held({})
    assert {mid for mid, m in changed.items() if m.changes[-1].deleted} <= never_stored


@pytest.mark.parametrize("strategy", sorted(available()))
@pytest.mark.parametrize("pagination", ["offset", "keyset", "cursor"])
def test_every_strategy_stores_edits_and_deletions(
    make_scenario: Callable[..., Scenario], strategy: str, pagination: str
) -> None:
    scenario = make_scenario(**TIMELINE, dialect={"pagination": pagination})
    rows = run(RunSpec(scenario, strategy, "threads", Options(workers=4))).rows
    assert [r["coverage"] for r in rows] == [1.0, 1.0], [r["missed"] for r in rows]


@pytest.mark.parametrize("strategy", ["client-filter", "since-incremental"])
def test_a_client_that_ignores_edits_is_named(
    make_scenario: Callable[..., Scenario], monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    """A client that reads only id, conversation, time and body keeps old versions and tombstoned
    messages as live: the report says which."""
    original = ApiProfile.message

    def naive(self: ApiProfile, raw: dict[str, Any]) -> dict[str, Any]:
        record = original(self, {k: v for k, v in raw.items() if k not in ("editedAt", "deleted")})
        return record | {"body": raw.get("body") or ""}

    monkeypatch.setattr(ApiProfile, "message", naive)
    rows = run(RunSpec(make_scenario(**TIMELINE), strategy)).rows
    reasons = {m["reason"].split(":")[0] for r in rows for m in r["missed"]}
    assert reasons == {"edit-not-seen", "deletion-not-seen"}
