"""How much memory a scenario's world needs, estimated from its fields before it is built.

A fixed formula over the counts of records the scenario asks for (never the host's free
memory), so the same command is admitted or refused the same way on every machine. The
bytes per record were measured with tracemalloc over `build_world` plus the timeline
(`large`; `pms-1000` with 100 accounts; one-message and twenty-message worlds).
"""

from __future__ import annotations

import os

from bench.scenario.model import Scenario, ScenarioError

__all__ = ["DEFAULT_MAX_MIB", "check_world", "max_world_mib", "set_max_world_mib", "world_mib"]

DEFAULT_MAX_MIB = 2048.0
#: the limit `check_world` applies when not given one; an environment variable, so the
#: worker processes of a sweep or a scaling study apply the limit their parent was given
LIMIT_ENV = "SYNCBENCH_MAX_WORLD_MIB"

#: measured bytes per record of a built world and its timeline
CONVERSATION_BYTES = 850  # a conversation, its reservation and their dicts' slots
MESSAGE_BYTES = 300  # a message, its timeline entry and its reservation update
CHANGE_BYTES = 250  # an edit or a deletion and its timeline entry
UPDATE_BYTES = 120  # a reservation updated without a message
EDIT_CANDIDATE_BYTES = 80  # while edits are drawn, every message is a candidate (a tuple in a list)
BASE_MIB = 1.0


def set_max_world_mib(mib: float) -> None:
    """Set the limit for this process and the processes it starts (`--max-world-mib`)."""
    os.environ[LIMIT_ENV] = repr(float(mib))


def max_world_mib() -> float:
    """The limit in force: the last `set_max_world_mib`, else DEFAULT_MAX_MIB."""
    try:
        return float(os.environ.get(LIMIT_ENV, DEFAULT_MAX_MIB))
    except ValueError:
        return DEFAULT_MAX_MIB


def _terms(scenario: Scenario) -> tuple[float, dict[str, float]]:
    """The estimate in bytes, and how much setting each field back to its default would save."""
    if scenario.literal is not None:
        data = scenario.literal
        saved: dict[str, float] = {
            "literal.conversations": len(data.conversations) * CONVERSATION_BYTES,
            "literal.messages": len(data.messages) * MESSAGE_BYTES,
            "literal.reservations": len(data.reservations) * UPDATE_BYTES,
        }
        return float(sum(saved.values())), saved
    ds, act = scenario.dataset, scenario.activity
    mean = sum(ds.messages) / 2
    default_mean = sum(type(ds).model_fields["messages"].default) / 2
    per_account: dict[str, float] = {
        "dataset.conversations": ds.conversations * (CONVERSATION_BYTES + mean * MESSAGE_BYTES),
        "activity.active": act.active * 2 * MESSAGE_BYTES,
        "activity.during_sync": act.during_sync * MESSAGE_BYTES,
        "activity.reservation_only": act.reservation_only * UPDATE_BYTES,
        "activity.edited": act.edited * CHANGE_BYTES,
        "activity.deleted": act.deleted * CHANGE_BYTES,
    }
    for i, nxt in enumerate(scenario.next_syncs):
        per_account |= {
            f"next_syncs.{i}.new_conversations": nxt.new_conversations * (CONVERSATION_BYTES + MESSAGE_BYTES),
            f"next_syncs.{i}.new_messages": nxt.new_messages * MESSAGE_BYTES,
            f"next_syncs.{i}.during_sync": nxt.during_sync * MESSAGE_BYTES,
            f"next_syncs.{i}.reservation_only": nxt.reservation_only * UPDATE_BYTES,
            f"next_syncs.{i}.edited_messages": nxt.edited_messages * CHANGE_BYTES,
            f"next_syncs.{i}.deleted_messages": nxt.deleted_messages * CHANGE_BYTES,
        }
    account = float(sum(per_account.values()))
    if act.edited or act.deleted or any(n.edited_messages or n.deleted_messages for n in scenario.next_syncs):
        messages = ds.conversations * mean + sum(n.new_conversations + n.new_messages for n in scenario.next_syncs)
        account += messages * EDIT_CANDIDATE_BYTES
    saved = {field: ds.accounts * value for field, value in per_account.items()}
    default_conversations = type(ds).model_fields["conversations"].default
    saved["dataset.conversations"] *= max(0, ds.conversations - default_conversations) / max(1, ds.conversations)
    saved["dataset.messages"] = ds.accounts * ds.conversations * max(0.0, mean - default_mean) * MESSAGE_BYTES
    saved["dataset.accounts"] = (ds.accounts - 1) * account
    return ds.accounts * account, saved


def world_mib(scenario: Scenario) -> float:
    """The estimated memory of the scenario's world, in MiB, from its fields alone (nothing is built)."""
    total, _ = _terms(scenario)
    return BASE_MIB + total / 2**20


def _value(scenario: Scenario, field: str) -> str:
    if field.startswith("literal."):
        return f"{len(getattr(scenario.literal, field.split('.')[1])):,} records"
    node: object = scenario
    for part in field.split("."):
        node = node[int(part)] if part.isdigit() else getattr(node, part)  # type: ignore[index]
    return f"{list(node)}" if isinstance(node, tuple) else f"{node:,}"


def check_world(scenario: Scenario, max_mib: float | None = None) -> None:
    """Refuse, in one line naming the dominant field and the estimate, a world larger than
    `max_mib` (default: `max_world_mib()`, 2048 MiB unless `set_max_world_mib` said otherwise)."""
    limit = max_world_mib() if max_mib is None else max_mib
    mib = world_mib(scenario)
    if mib <= limit:
        return
    total, saved = _terms(scenario)
    field = max(saved, key=lambda f: saved[f])
    if saved[field] < total / 2 and scenario.literal is None:
        field = "dataset.conversations"  # no one field is unusual: name the one that carries the records
    raise ScenarioError(
        f"{scenario.source}: {field} = {_value(scenario, field)}: the world would need about "
        f"{mib:,.0f} MiB (limit {limit:,.0f} MiB, --max-world-mib)"
    )
