"""Scenario files: a validated description of one API world and the syncs run against it.

A scenario is TOML (see docs/scenarios.md). It is found by shipped name or by path;
a bad file is refused with one line naming the file, the field and the problem.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from bench.scenario.bounds import (
    COUNT_MAX,
    DAY_S,
    EARLIEST,
    LATEST,
    PAGE_MAX,
    SECONDS_MAX,
    SEED_MAX,
    TIMING_MAX,
    Count,
    Model,
    allowed,
)
from bench.scenario.faults import Faults
from bench.scenario.literal import LiteralData

__all__ = [
    "SCHEMA_VERSION",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "refusal",
    "scenario_hash",
    "shipped_scenarios",
]


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is one line."""


#: bumped when a default's behaviour changes, so hashes of files that rely on it change too
SCHEMA_VERSION = "scenario/1"

_DATES = f"a date-time with a time zone, from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"
#: seconds after a sync's start at which messages arrive while it runs
Window = Annotated[float, Field(ge=0, le=DAY_S)]


class Dataset(Model):
    accounts: int = Field(1, ge=1, le=1000)
    conversations: int = Field(1000, ge=0, le=COUNT_MAX, description="conversations per account")
    orphans: int = Field(0, ge=0, le=COUNT_MAX, description="conversations with no reservation, per account")
    messages: tuple[Count, Count] = Field(
        (1, 12),
        description="messages per conversation, min and max",
        json_schema_extra={"allowed": "[min, max] with 1 <= min <= max"},
    )
    history_days: float = Field(180, gt=0, le=36_500)

    @field_validator("messages")
    @classmethod
    def _range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] < 1 or v[1] < v[0]:
            raise ValueError("must be [min, max] with 1 <= min <= max")
        return v

    @model_validator(mode="after")
    def _orphans_fit(self) -> Dataset:
        if self.orphans > self.conversations:
            raise ValueError(f"orphans: {self.orphans:,} exceeds conversations (allowed: 0 to {self.conversations:,})")
        return self


class Activity(Model):
    """What happened since the last sync (the cutoff) and while the sync runs, per account."""

    first_sync: bool = Field(False, description="no sync ran before: the store starts empty, with no bookmark")
    cutoff_ago_s: float = Field(
        86400, gt=0, le=36_500 * DAY_S, description="the previous sync (the bookmark), seconds before start"
    )
    active: int = Field(0, ge=0, le=COUNT_MAX, description="conversations with new messages since the cutoff")
    active_orphans: int = Field(0, ge=0, le=COUNT_MAX, description="of `active`, how many have no reservation")
    reservation_only: int = Field(0, ge=0, le=COUNT_MAX, description="reservations updated with no new message")
    edited: int = Field(0, ge=0, le=COUNT_MAX, description="older messages edited since the cutoff")
    deleted: int = Field(0, ge=0, le=COUNT_MAX, description="older messages deleted since the cutoff")
    during_sync: int = Field(0, ge=0, le=COUNT_MAX, description="messages arriving while the sync runs")
    during_sync_window_s: tuple[Window, Window] = (0.5, 5.0)


ThrottleSignal = Literal[
    "retry-after",  # 429 with Retry-After in seconds
    "retry-after-date",  # 429 with Retry-After as an HTTP date
    "bare",  # 429 with a JSON body and no header
    "x-ratelimit",  # 429 with X-RateLimit-Limit/Remaining/Reset (Reset in seconds)
    "ietf",  # 429 with IETF RateLimit / RateLimit-Policy headers
    "usage-400",  # HTTP 400, error code in the body, X-App-Usage header (percent of quota)
    "usage-403",  # HTTP 403, same body and header
]


class Traps(Model):
    """Ways real APIs break a sync's assumptions; each is off by default."""

    unsorted: int = Field(0, ge=0, le=COUNT_MAX, description="records per listing the server puts out of order")
    late_arrival_s: float = Field(
        0, ge=0, le=30 * DAY_S, description="L: records appear up to L s after their timestamp"
    )
    clock_skew_s: float = Field(
        0, ge=0, le=30 * DAY_S, description="S: record timestamps run S s behind the Date header"
    )
    cutoff_ties: int = Field(0, ge=0, le=COUNT_MAX, description="conversations with a message exactly at the cutoff")
    unbumped: float = Field(0, ge=0, le=1, description="share of new messages that leave updatedOn alone")
    short_pages: bool = Field(False, description="every other listing page comes back one record short")


class NextSync(Model):
    """A later sync of the timeline and the activity between it and the sync before."""

    after_s: float = Field(ge=3, le=SECONDS_MAX, description="seconds after the previous sync's scheduled start")
    new_conversations: int = Field(0, ge=0, le=COUNT_MAX, description="conversations created since the previous sync")
    new_messages: int = Field(
        0, ge=0, le=COUNT_MAX, description="messages on existing conversations since the previous sync"
    )
    reservation_only: int = Field(0, ge=0, le=COUNT_MAX, description="reservations updated with no new message")
    edited_messages: int = Field(0, ge=0, le=COUNT_MAX, description="earlier messages edited since the previous sync")
    deleted_messages: int = Field(0, ge=0, le=COUNT_MAX, description="earlier messages deleted since the previous sync")
    during_sync: int = Field(0, ge=0, le=COUNT_MAX, description="messages arriving while this sync runs")
    during_sync_window_s: tuple[Window, Window] = (0.5, 5.0)


class Dialect(Model):
    pagination: Literal["offset", "keyset", "cursor"] = Field(
        "offset", description="offset/limit; keyset with afterId; opaque cursor with a next link"
    )
    page_size: int = Field(100, ge=1, le=PAGE_MAX, description="the page size clients ask for by default")
    max_page_size: int = Field(100, ge=1, le=PAGE_MAX)
    timestamp_precision: Literal["s", "ms"] = "s"
    since: bool = Field(True, description="the conversation listing accepts `since` and `until` filters")
    since_format: Literal["timestamp", "date"] = Field(
        "timestamp", description="`since`/`until` take a timestamp, or only a day (YYYY-MM-DD, UTC)"
    )
    throttle_signal: ThrottleSignal = Field("retry-after", description="how the API says it is throttling")

    @model_validator(mode="after")
    def _page_fits(self) -> Dialect:
        if self.page_size > self.max_page_size:
            raise ValueError(
                f"page_size: {self.page_size:,} exceeds max_page_size (allowed: 1 to {self.max_page_size:,})"
            )
        return self


class RateLimit(Model):
    algorithm: Literal["fixed-window", "sliding-window", "token-bucket", "none"] = "fixed-window"
    scope: Literal["account", "key", "global"] = "account"
    limit: int = Field(30, ge=1, le=COUNT_MAX, description="requests per window (token bucket: refill per window)")
    window_s: float = Field(1.0, gt=0, le=SECONDS_MAX)
    burst: int | None = Field(None, ge=1, le=COUNT_MAX, description="token bucket capacity (default: limit)")
    count_rejected: bool = Field(False, description="throttled requests use up the quota too")


class EndpointLatency(Model):
    base_s: float = Field(ge=0, le=TIMING_MAX)
    per_item_s: float = Field(0.0, ge=0, le=TIMING_MAX)


def _default_endpoints() -> dict[str, EndpointLatency]:
    return {
        "accounts": EndpointLatency(base_s=0.1),
        "reservations": EndpointLatency(base_s=0.2, per_item_s=0.003),
        "conversations": EndpointLatency(base_s=0.2, per_item_s=0.003),
        "reservation_conversations": EndpointLatency(base_s=0.45, per_item_s=0.02),
        "messages": EndpointLatency(base_s=0.18, per_item_s=0.005),
    }


class Latency(Model):
    connect_s: float = Field(0.15, ge=0, le=TIMING_MAX, description="one-time setup of each new connection")
    jitter_sigma: float = Field(0.15, ge=0, le=2, description="lognormal jitter of service time")
    throttled_s: float = Field(0.05, ge=0, le=TIMING_MAX, description="time to answer a throttled request")
    server_concurrency: int | None = Field(
        None,
        ge=1,
        le=COUNT_MAX,
        description="requests the server works on at once; more wait their turn (none: no cap)",
    )
    client_s: float = Field(
        0.0,
        ge=0,
        le=TIMING_MAX,
        description="client CPU per request (HTTP stack, parsing), one at a time, as one interpreter runs it",
    )
    endpoints: dict[str, EndpointLatency] = Field(default_factory=_default_endpoints)

    @field_validator("endpoints")
    @classmethod
    def _known(cls, v: dict[str, EndpointLatency]) -> dict[str, EndpointLatency]:
        unknown = set(v) - set(_default_endpoints())
        if unknown:
            raise ValueError(f"unknown endpoint {sorted(unknown)[0]!r}")
        return {**_default_endpoints(), **v}


class StoreCost(Model):
    statement_s: float = Field(0.002, ge=0, le=TIMING_MAX, description="one database round trip")
    row_s: float = Field(0.00002, ge=0, le=TIMING_MAX, description="each row written")


class Scenario(Model):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    seed: int = Field(1, ge=0, le=SEED_MAX)
    start: datetime = Field(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), json_schema_extra={"allowed": _DATES})
    dataset: Dataset = Dataset()
    activity: Activity = Activity()
    dialect: Dialect = Dialect()
    traps: Traps = Traps()
    rate_limits: tuple[RateLimit, ...] = Field((RateLimit(),), min_length=1, max_length=100)
    latency: Latency = Latency()
    store: StoreCost = StoreCost()
    next_syncs: tuple[NextSync, ...] = Field((), max_length=1000)
    faults: Faults = Field(Faults(), description="injected faults (bench/scenario/faults.py)")
    literal: LiteralData | None = Field(None, description="records written out one by one; replaces `dataset`")

    _source: str | None = PrivateAttr(None)  # the file it was loaded from, for messages

    @field_validator("faults", mode="before")
    @classmethod
    def _faults(cls, v: Any) -> Any:
        """An absent `[faults]` table (or None) is every fault off."""
        return {} if v is None else v

    @model_validator(mode="before")
    @classmethod
    def _one_or_many_limits(cls, data: Any) -> Any:
        """`[rate_limit]` (one table) and `[[rate_limits]]` (several, all enforced) both work."""
        if isinstance(data, dict) and "rate_limit" in data:
            if "rate_limits" in data:
                raise ValueError("rate_limits: give either rate_limit or rate_limits, not both (allowed: one of them)")
            data = {**data, "rate_limits": [data["rate_limit"]]}
            del data["rate_limit"]
        return data

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a time zone, such as 2026-03-02T09:00:00Z")
        if not EARLIEST <= v <= LATEST:
            raise ValueError(f"{v.isoformat()} is out of range")
        return v

    @model_validator(mode="after")
    def _activity_fits(self) -> Scenario:
        if self.literal is not None:
            return self  # a literal world ignores `dataset` and the generated activity
        a, d = self.activity, self.dataset
        if a.active > d.conversations:
            raise ValueError(
                f"activity.active: {a.active:,} exceeds dataset.conversations (allowed: 0 to {d.conversations:,})"
            )
        if a.active_orphans > min(a.active, d.orphans):
            raise ValueError(
                f"activity.active_orphans: {a.active_orphans:,} exceeds activity.active or dataset.orphans "
                f"(allowed: 0 to {min(a.active, d.orphans):,})"
            )
        left = d.conversations - d.orphans - (a.active - a.active_orphans)
        if a.reservation_only > left:
            raise ValueError(
                f"activity.reservation_only: {a.reservation_only:,} exceeds the reservations left to update "
                f"(allowed: 0 to {left:,})"
            )
        return self

    @model_validator(mode="after")
    def _history_fits(self) -> Scenario:
        if self.literal is not None:
            return self
        recent_s = 86400 if self.activity.first_sync else self.activity.cutoff_ago_s
        if self.dataset.history_days * 86400 < recent_s + 7200:
            raise ValueError(
                "dataset.history_days: must reach at least 2 hours past the cutoff "
                f"(allowed: {(recent_s + 7200) / 86400:.3f} to 36,500 days)"
            )
        return self

    @property
    def source(self) -> str:
        """Where it came from, for messages: its file, or its name when built in code."""
        return self._source or f"scenario {self.name!r}"

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def sync_times(self) -> list[float]:
        """Scheduled start of every sync, in simulated seconds since `start`."""
        times = [0.0]
        for nxt in self.next_syncs:
            times.append(times[-1] + nxt.after_s)
        return times


def _shipped_dir() -> Path:
    return Path(str(resources.files("bench.fixtures").joinpath("scenarios")))


def shipped_scenarios() -> dict[str, Path]:
    """Shipped scenario names and their files, found in the installed package."""
    return {p.stem: p for p in sorted(_shipped_dir().glob("*.toml"))}


#: tables that are documents of their own: a field in them is named `faults: storm.duration_s`
_SUBDOCUMENTS = ("faults", "literal")


def _where(loc: tuple[int | str, ...]) -> str:
    if len(loc) > 1 and loc[0] in _SUBDOCUMENTS:
        return f"{loc[0]}: {_where(loc[1:])}"
    return ".".join(str(part) for part in loc) or "(top level)"


#: tables nested deeper than this are refused before validation (the deepest field is at 4)
MAX_DEPTH = 8
#: scenario files larger than this are refused before reading (a literal world of a few million records)
MAX_FILE_BYTES = 256 * 2**20
#: "a.b.0.c: problem": a check that names a field below the one it is attached to
_NAMED = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)*): (.*)$", re.DOTALL)


def _depth(value: Any) -> int:
    """How deeply tables and lists nest (iteratively, so no document can exhaust the stack)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item]
    return deepest


def _read(path: Path) -> dict[str, Any]:
    """The file's TOML document; every way reading or parsing fails is one ScenarioError line."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path}: file too large (allowed: at most {MAX_FILE_BYTES // 2**20} MiB)")
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{path}: cannot read: {error}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: malformed TOML: nested too deeply (allowed: {MAX_DEPTH} levels)") from None
    except ValueError as error:  # TOMLDecodeError, and dates tomllib cannot represent ("year 0 is out of range")
        raise ScenarioError(f"{path}: malformed TOML: {str(error).splitlines()[0]}") from None
    if _depth(raw) > MAX_DEPTH:
        raise ScenarioError(f"{path}: tables and lists nested too deeply (allowed: {MAX_DEPTH} levels)")
    return raw


def refusal(error: ValidationError, spelled: dict[str, Any] | None = None) -> str:
    """`FIELD: problem (allowed: RANGE)` for the first error of a scenario's validation.

    `spelled`, the raw document, names `[rate_limit]` as the file spells it.
    """
    first = error.errors()[0]
    loc = tuple(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    named = _NAMED.match(message) if first["type"] == "value_error" else None
    if named:  # a check on a table that names the field below it
        loc += tuple(int(p) if p.isdigit() else p for p in named.group(1).split("."))
        message = named.group(2)
    where = loc
    if loc[:1] == ("rate_limits",) and spelled is not None and "rate_limit" in spelled:
        where = ("rate_limit", *loc[2:])
    if "(allowed:" not in message:
        accepted = allowed(Scenario, loc)
        if accepted is not None:
            message += f" (allowed: {accepted})"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{_where(where)}: {message}{more}"


def load_scenario(name_or_path: str, seed: int | None = None) -> Scenario:
    """Load a shipped scenario by name, or a TOML file by path; `seed` overrides the file's.

    Every refusal is one ScenarioError line: `FILE: FIELD: problem (allowed: RANGE)`.
    """
    path = Path(name_or_path)
    if not (name_or_path.endswith(".toml") or path.exists()):
        shipped = shipped_scenarios()
        if name_or_path not in shipped:
            names = ", ".join(shipped) or "none"
            raise ScenarioError(f"unknown scenario {name_or_path!r} (shipped: {names})")
        path = shipped[name_or_path]
    raw = _read(path)
    raw.setdefault("name", path.stem)
    if seed is not None:
        raw["seed"] = seed
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(f"{path}: {refusal(error, raw)}") from None
    scenario._source = str(path)
    return scenario


def scenario_hash(scenario: Scenario) -> str:
    """A short content hash, so results and baselines say which world they measured.

    Of the schema version and the fields the file sets away from their defaults (the seed
    apart): a new field with a default changes no hash (docs/design.md, Contracts).
    """
    canonical = scenario.model_dump_json(exclude={"seed"}, exclude_defaults=True)
    return hashlib.sha256(f"{SCHEMA_VERSION}\n{canonical}".encode()).hexdigest()[:16]
