"""`syncbench import`: a recording as a scenario, its records as a literal dataset and a fitted latency model.

The records are the API's answers as recorded (the last version of each record wins);
a reservation that a conversation names but no listing showed is added with its
conversation's newest message as `updatedOn`, as the API bumps it. `start` is the
whole second after the newest record, so everything recorded was visible before the
first sync. The rate limit cannot be seen in a recording: the file says `none`, to be
set to the API's documented limit. The same scenario, kept in memory with a first
sync, is the ground truth of a replay (bench/recordings/replay.py).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.recordings.cassette import CassetteError, Recording, result_records
from bench.recordings.latency_fit import fit_latency
from bench.scenario.model import Scenario

__all__ = ["literal_from", "scenario_document", "scenario_from", "to_toml"]


class _Inline(dict[str, object]):
    """A table written inline (`{ base_s = 0.2, per_item_s = 0.003 }`)."""


def _stamp(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def literal_from(recording: Recording) -> dict[str, Any]:
    """The `[literal]` table: every account, reservation, conversation and message the recording showed."""
    profile = recording.profile
    accounts: dict[str, None] = {}
    reservations: dict[int, dict[str, Any]] = {}
    conversations: dict[int, dict[str, Any]] = {}
    newest: dict[int, int] = {}  # conversation id -> lastMessageAt (ms)
    messages: dict[int, dict[str, Any]] = {}
    for index, it in enumerate(recording.interactions):
        route = profile.route(it.path)
        records = result_records(it, profile)
        if route is None or records is None:
            continue
        endpoint, values = route
        account = values.get("account")
        if account is not None:
            accounts.setdefault(account)
        try:
            for r in records:
                if endpoint == "accounts":
                    accounts.setdefault(str(r["id"]))
                elif endpoint == "reservations":
                    reservations[_id(r["id"])] = {
                        "id": _id(r["id"]),
                        "account": account,
                        "updatedOn": profile.parse_ts(r["updatedOn"]),
                    }
                elif endpoint in ("conversations", "reservation_conversations"):
                    cid = _id(r["id"])
                    rid = r.get("reservationId")
                    created = r.get("createdAt")
                    conversations[cid] = {
                        "id": cid,
                        "account": account,
                        "reservationId": None if rid is None else _id(rid),
                        "createdAt": None if created is None else profile.parse_ts(created),
                    }
                    if r.get("lastMessageAt"):
                        newest[cid] = profile.parse_ts(r["lastMessageAt"])
                elif endpoint == "messages":
                    cid = _id(r.get("conversationId", values.get("conversation")))
                    messages[_id(r["id"])] = {
                        "id": _id(r["id"]),
                        "conversationId": cid,
                        "sentAt": profile.parse_ts(r["sentAt"]),
                    }
                    conversations.setdefault(
                        cid, {"id": cid, "account": account, "reservationId": None, "createdAt": None}
                    )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CassetteError(
                f"{recording.path}: interaction {index} ({endpoint}): unusable record: {error}"
            ) from None
    first_message: dict[int, int] = {}
    for m in messages.values():
        cid = m["conversationId"]
        first_message[cid] = min(first_message.get(cid, m["sentAt"]), m["sentAt"])
        newest[cid] = max(newest.get(cid, m["sentAt"]), m["sentAt"])
    for c in conversations.values():
        if c["createdAt"] is None:
            c["createdAt"] = first_message.get(c["id"], newest.get(c["id"], 0))
        rid = c["reservationId"]
        if rid is not None and rid not in reservations:
            reservations[rid] = {"id": rid, "account": c["account"], "updatedOn": newest.get(c["id"], c["createdAt"])}
    if not accounts:
        raise CassetteError(f"{recording.path}: the recording shows no account")
    return {
        "accounts": list(accounts),
        "reservations": [{**r, "updatedOn": _stamp(r["updatedOn"])} for r in sorted(reservations.values(), key=_by_id)],
        "conversations": [
            {**{k: v for k, v in c.items() if v is not None}, "createdAt": _stamp(c["createdAt"])}
            for c in sorted(conversations.values(), key=_by_id)
        ],
        "messages": [{**m, "sentAt": _stamp(m["sentAt"])} for m in sorted(messages.values(), key=_by_id)],
    }


def _id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise ValueError(f"id {value!r} is not an integer (syncbench's records have integer ids)")
    return int(value)


def _by_id(record: dict[str, Any]) -> int:
    return int(record["id"])


def _newest_ms(literal: dict[str, Any]) -> int:
    stamps = [r["updatedOn"] for r in literal["reservations"]] + [c["createdAt"] for c in literal["conversations"]]
    stamps += [m["sentAt"] for m in literal["messages"]]
    return max((round(s.timestamp() * 1000) for s in stamps), default=0)


def scenario_document(recording: Recording, name: str, *, first_sync: bool) -> dict[str, Any]:
    """The scenario as a TOML-ready document (the literal records, the fitted latency, the recorded dialect)."""
    profile, meta = recording.profile, recording.meta
    literal = literal_from(recording)
    newest = _newest_ms(literal)
    stamps = [round(s.timestamp() * 1000) for kind, key in _STAMPS for s in (r[key] for r in literal[kind])]
    fit = fit_latency(recording.interactions, profile)
    page_size = (meta.get("options") or {}).get("page_size") or profile.page_size
    latency: dict[str, Any] = {"connect_s": fit.connect_s, "jitter_sigma": fit.jitter_sigma}
    if fit.throttled_s is not None:
        latency["throttled_s"] = fit.throttled_s
    latency["endpoints"] = {e: _Inline(base_s=b, per_item_s=p) for e, (b, p) in sorted(fit.endpoints.items())}
    activity: dict[str, Any] = {"first_sync": first_sync}
    if not first_sync:
        activity["cutoff_ago_s"] = 86400
    strategy = f"{meta.get('strategy')} / {meta.get('fanout')} x{meta.get('workers')}"
    return {
        "name": name,
        "description": f"imported from {recording.path.name}: {len(recording.interactions)} requests, {strategy}",
        "start": _stamp((newest // 1000 + 1) * 1000),
        "activity": activity,
        "dialect": {
            "pagination": profile.pagination,
            "page_size": page_size,
            "max_page_size": max(page_size, 100),
            "timestamp_precision": "ms" if any(s % 1000 for s in stamps) else "s",
        },
        "rate_limit": {"algorithm": "none"},
        "latency": latency,
        "literal": literal,
    }


_STAMPS = (("reservations", "updatedOn"), ("conversations", "createdAt"), ("messages", "sentAt"))


def scenario_from(recording: Recording, *, first_sync: bool = True) -> Scenario:
    """The recording's scenario in memory: the ground truth and the latency model of a replay."""
    document = scenario_document(recording, recording.name, first_sync=first_sync)
    try:
        return Scenario.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CassetteError(f"{recording.path}: cannot make a scenario of it: {where}: {first['msg']}") from None


# -- TOML ---------------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, once DEL (which TOML forbids raw) is escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to TOML")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat(timespec="milliseconds" if value.microsecond else "seconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _table(name: str, table: dict[str, Any], lines: list[str]) -> None:
    if name:
        lines += ["", f"[{name}]"]
    for key, value in table.items():
        if isinstance(value, dict) and not isinstance(value, _Inline):
            continue
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{_key(key)} = [")  # one record a line: readable, and diffs stay small
            lines += [f"  {_value(v)}," for v in value]
            lines.append("]")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if isinstance(value, dict) and not isinstance(value, _Inline):
            _table(f"{name}.{_key(key)}" if name else _key(key), value, lines)


def to_toml(document: dict[str, Any]) -> str:
    """The document as TOML, checked by reading it back (so a writer slip is an error here, not later)."""
    lines: list[str] = []
    _table("", document, lines)
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    return text


def import_cassette(recording: Recording, out: Path, *, first_sync: bool) -> Scenario:
    """The recording's scenario, validated as `load_scenario` would, and its TOML text written to `out`."""
    from bench.results.files import atomic_write

    name = out.name.removesuffix(".toml")
    document = scenario_document(recording, name, first_sync=first_sync)
    text = to_toml(document)
    try:
        scenario = Scenario.model_validate(tomllib.loads(text))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CassetteError(f"{recording.path}: cannot make a scenario of it: {where}: {first['msg']}") from None
    atomic_write(out, text)
    return scenario
