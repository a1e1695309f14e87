"""Scenario files: a validated description of one API world and the syncs run against it.

A scenario is TOML (see docs/scenarios.md). It is found by shipped name or by path;
a bad file is refused with one line naming the file, the field and the problem.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.scenario.faults import Faults
from bench.scenario.literal import LiteralData

__all__ = [
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "scenario_hash",
    "shipped_scenarios",
]


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is one line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dataset(_Model):
    accounts: int = Field(1, ge=1, le=1000)
    conversations: int = Field(1000, ge=0, description="conversations per account")
    orphans: int = Field(0, ge=0, description="conversations with no reservation, per account")
    messages: tuple[int, int] = Field((1, 12), description="messages per conversation, min and max")
    history_days: float = Field(180, gt=0)

    @field_validator("messages")
    @classmethod
    def _range(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] < 1 or v[1] < v[0]:
            raise ValueError("must be [min, max] with 1 <= min <= max")
        return v

    @model_validator(mode="after")
    def _orphans_fit(self) -> Dataset:
        if self.orphans > self.conversations:
            raise ValueError("orphans cannot exceed conversations")
        return self


class Activity(_Model):
    """What happened since the last sync (the cutoff) and while the sync runs, per account."""

    first_sync: bool = Field(False, description="no sync ran before: the store starts empty, with no bookmark")
    cutoff_ago_s: float = Field(86400, gt=0, description="the previous sync (the bookmark), seconds before start")
    active: int = Field(0, ge=0, description="conversations with new messages since the cutoff")
    active_orphans: int = Field(0, ge=0, description="of `active`, how many have no reservation")
    reservation_only: int = Field(0, ge=0, description="reservations updated with no new message")
    edited: int = Field(0, ge=0, description="older messages edited since the cutoff")
    deleted: int = Field(0, ge=0, description="older messages deleted since the cutoff")
    during_sync: int = Field(0, ge=0, description="messages arriving while the sync runs")
    during_sync_window_s: tuple[float, float] = (0.5, 5.0)


ThrottleSignal = Literal[
    "retry-after",  # 429 with Retry-After in seconds
    "retry-after-date",  # 429 with Retry-After as an HTTP date
    "bare",  # 429 with a JSON body and no header
    "x-ratelimit",  # 429 with X-RateLimit-Limit/Remaining/Reset (Reset in seconds)
    "ietf",  # 429 with IETF RateLimit / RateLimit-Policy headers
    "usage-400",  # HTTP 400, error code in the body, X-App-Usage header (percent of quota)
    "usage-403",  # HTTP 403, same body and header
]


class Traps(_Model):
    """Ways real APIs break a sync's assumptions; each is off by default."""

    unsorted: int = Field(0, ge=0, description="records per listing the server puts out of order")
    late_arrival_s: float = Field(0, ge=0, description="L: records appear up to L s after their timestamp")
    clock_skew_s: float = Field(0, ge=0, description="S: record timestamps run S s behind the Date header")
    cutoff_ties: int = Field(0, ge=0, description="conversations with a message exactly at the cutoff")
    unbumped: float = Field(0, ge=0, le=1, description="share of new messages that leave updatedOn alone")
    short_pages: bool = Field(False, description="every other listing page comes back one record short")


class NextSync(_Model):
    """A later sync of the timeline and the activity between it and the sync before."""

    after_s: float = Field(ge=3, description="seconds after the previous sync's scheduled start")
    new_conversations: int = Field(0, ge=0, description="conversations created since the previous sync")
    new_messages: int = Field(0, ge=0, description="messages on existing conversations since the previous sync")
    reservation_only: int = Field(0, ge=0, description="reservations updated with no new message")
    edited_messages: int = Field(0, ge=0, description="earlier messages edited since the previous sync")
    deleted_messages: int = Field(0, ge=0, description="earlier messages deleted since the previous sync")
    during_sync: int = Field(0, ge=0, description="messages arriving while this sync runs")
    during_sync_window_s: tuple[float, float] = (0.5, 5.0)


class Dialect(_Model):
    pagination: Literal["offset", "keyset", "cursor"] = Field(
        "offset", description="offset/limit; keyset with afterId; opaque cursor with a next link"
    )
    page_size: int = Field(100, ge=1, description="the page size clients ask for by default")
    max_page_size: int = Field(100, ge=1)
    timestamp_precision: Literal["s", "ms"] = "s"
    since: bool = Field(True, description="the conversation listing accepts `since` and `until` filters")
    since_format: Literal["timestamp", "date"] = Field(
        "timestamp", description="`since`/`until` take a timestamp, or only a day (YYYY-MM-DD, UTC)"
    )
    throttle_signal: ThrottleSignal = Field("retry-after", description="how the API says it is throttling")

    @model_validator(mode="after")
    def _page_fits(self) -> Dialect:
        if self.page_size > self.max_page_size:
            raise ValueError("page_size cannot exceed max_page_size")
        return self


class RateLimit(_Model):
    algorithm: Literal["fixed-window", "sliding-window", "token-bucket", "none"] = "fixed-window"
    scope: Literal["account", "key", "global"] = "account"
    limit: int = Field(30, ge=1, description="requests per window (token bucket: refill per window)")
    window_s: float = Field(1.0, gt=0)
    burst: int | None = Field(None, ge=1, description="token bucket capacity (default: limit)")
    count_rejected: bool = Field(False, description="throttled requests use up the quota too")


class EndpointLatency(_Model):
    base_s: float = Field(ge=0)
    per_item_s: float = Field(0.0, ge=0)


def _default_endpoints() -> dict[str, EndpointLatency]:
    return {
        "accounts": EndpointLatency(base_s=0.1),
        "reservations": EndpointLatency(base_s=0.2, per_item_s=0.003),
        "conversations": EndpointLatency(base_s=0.2, per_item_s=0.003),
        "reservation_conversations": EndpointLatency(base_s=0.45, per_item_s=0.02),
        "messages": EndpointLatency(base_s=0.18, per_item_s=0.005),
    }


class Latency(_Model):
    connect_s: float = Field(0.15, ge=0, description="one-time setup of each new connection")
    jitter_sigma: float = Field(0.15, ge=0, le=2, description="lognormal jitter of service time")
    throttled_s: float = Field(0.05, ge=0, description="time to answer a throttled request")
    server_concurrency: int | None = Field(
        None, ge=1, description="requests the server works on at once; more wait their turn (none: no cap)"
    )
    client_s: float = Field(
        0.0, ge=0, description="client CPU per request (HTTP stack, parsing), one at a time, as one interpreter runs it"
    )
    endpoints: dict[str, EndpointLatency] = Field(default_factory=_default_endpoints)

    @field_validator("endpoints")
    @classmethod
    def _known(cls, v: dict[str, EndpointLatency]) -> dict[str, EndpointLatency]:
        unknown = set(v) - set(_default_endpoints())
        if unknown:
            raise ValueError(f"unknown endpoint {sorted(unknown)[0]!r}")
        return {**_default_endpoints(), **v}


class StoreCost(_Model):
    statement_s: float = Field(0.002, ge=0, description="one database round trip")
    row_s: float = Field(0.00002, ge=0, description="each row written")


class Scenario(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    seed: int = 1
    start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    dataset: Dataset = Dataset()
    activity: Activity = Activity()
    dialect: Dialect = Dialect()
    traps: Traps = Traps()
    rate_limits: tuple[RateLimit, ...] = (RateLimit(),)
    latency: Latency = Latency()
    store: StoreCost = StoreCost()
    next_syncs: tuple[NextSync, ...] = ()
    faults: Faults = Field(Faults(), description="injected faults (bench/scenario/faults.py)")
    literal: LiteralData | None = Field(None, description="records written out one by one; replaces `dataset`")

    @field_validator("faults", mode="before")
    @classmethod
    def _faults(cls, v: Any) -> Any:
        """A bad table is named by its own field path; an absent one (or None) is every fault off."""
        if isinstance(v, Faults):
            return v
        try:
            return Faults.model_validate({} if v is None else v)
        except ValidationError as error:
            first = error.errors()[0]
            raise ValueError(f"{_where(first['loc'])}: {first['msg'].removeprefix('Value error, ')}") from None

    @field_validator("literal", mode="before")
    @classmethod
    def _literal(cls, v: Any) -> Any:
        """A bad record is named by its own field path (cross-record checks name theirs)."""
        if v is None or isinstance(v, LiteralData):
            return v
        try:
            return LiteralData.model_validate(v)
        except ValidationError as error:
            first = error.errors()[0]
            message = first["msg"].removeprefix("Value error, ")  # cross-record checks name their own field
            raise ValueError(f"{_where(first['loc'])}: {message}" if first["loc"] else message) from None

    @model_validator(mode="before")
    @classmethod
    def _one_or_many_limits(cls, data: Any) -> Any:
        """`[rate_limit]` (one table) and `[[rate_limits]]` (several, all enforced) both work."""
        if isinstance(data, dict) and "rate_limit" in data:
            if "rate_limits" in data:
                raise ValueError("give either rate_limit or rate_limits, not both")
            data = {**data, "rate_limits": [data["rate_limit"]]}
            del data["rate_limit"]
        return data

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must carry a time zone, such as 2026-03-02T09:00:00Z")
        return v

    @model_validator(mode="after")
    def _activity_fits(self) -> Scenario:
        if self.literal is not None:
            return self  # a literal world ignores `dataset` and the generated activity
        a, d = self.activity, self.dataset
        if a.active > d.conversations:
            raise ValueError("activity.active cannot exceed dataset.conversations")
        if a.active_orphans > min(a.active, d.orphans):
            raise ValueError("activity.active_orphans cannot exceed activity.active or dataset.orphans")
        if a.reservation_only > d.conversations - d.orphans - (a.active - a.active_orphans):
            raise ValueError("activity.reservation_only exceeds the reservations left to update")
        return self

    @model_validator(mode="after")
    def _history_fits(self) -> Scenario:
        if self.literal is not None:
            return self
        recent_s = 86400 if self.activity.first_sync else self.activity.cutoff_ago_s
        if self.dataset.history_days * 86400 < recent_s + 7200:
            raise ValueError(
                "dataset.history_days must reach at least 2 hours past the cutoff "
                f"({(recent_s + 7200) / 86400:.3f} days)"
            )
        return self

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


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def load_scenario(name_or_path: str, seed: int | None = None) -> Scenario:
    """Load a shipped scenario by name, or a TOML file by path; `seed` overrides the file's."""
    path = Path(name_or_path)
    if not (name_or_path.endswith(".toml") or path.exists()):
        shipped = shipped_scenarios()
        if name_or_path not in shipped:
            names = ", ".join(shipped) or "none"
            raise ScenarioError(f"unknown scenario {name_or_path!r} (shipped: {names})")
        path = shipped[name_or_path]
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: malformed TOML: {error}") from None
    raw.setdefault("name", path.stem)
    if seed is not None:
        raw["seed"] = seed
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        loc = first["loc"]
        if loc[:1] == ("rate_limits",) and "rate_limit" in raw:
            loc = ("rate_limit", *loc[2:])  # name the field as the file spells it
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ScenarioError(f"{path}: {_where(loc)}: {message}{more}") from None


def scenario_hash(scenario: Scenario) -> str:
    """A short content hash, so results and baselines say which world they measured."""
    canonical = scenario.model_dump_json(exclude={"seed"})
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
