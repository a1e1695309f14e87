"""The `[faults]` table of a scenario: which requests the fault layer (bench/api/faults.py) makes misbehave.

All off by default; hit rates are per distinct request, seeded. Pure schema: the layer
that applies them lives with the simulated API.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from bench.scenario.bounds import COUNT_MAX, DAY_S, PAGE_MAX, SECONDS_MAX, Model

__all__ = [
    "BodyFault",
    "Duplicates",
    "Faults",
    "Hit",
    "ServerErrors",
    "ShortPages",
    "Storm",
    "Timeouts",
    "TransportFault",
]

Endpoint = Literal["accounts", "reservations", "conversations", "reservation_conversations", "messages"]
TransportFault = Literal["reset", "truncated"]


class Hit(Model):
    """Which requests a fault hits: a seeded share of distinct requests, for their first `burst` attempts."""

    rate: float = Field(0.0, ge=0, le=1, description="share of distinct requests hit (0: the fault is off)")
    burst: int | None = Field(
        1,
        ge=1,
        le=COUNT_MAX,
        description="attempts in a row that fail for a hit request; None: every attempt (permanent)",
    )
    endpoints: tuple[Endpoint, ...] = Field((), description="only these endpoints (default: all it applies to)")
    from_s: float = Field(0.0, ge=0, le=SECONDS_MAX, description="simulated time from which requests can be hit")
    until_s: float | None = Field(None, gt=0, le=SECONDS_MAX, description="simulated time after which they are not")

    @property
    def on(self) -> bool:
        return self.rate > 0

    def applies(self, endpoint: str, t: float) -> bool:
        """Whether the fault is on for this endpoint at simulated time `t`."""
        if not self.on or (self.endpoints and endpoint not in self.endpoints):
            return False
        return self.from_s <= t and (self.until_s is None or t < self.until_s)


class Storm(Model):
    """A window of simulated time in which every request is throttled (HTTP 429).

    A storm longer than the client's retry budget (attempts x Retry-After) cannot be
    ridden out: a correct client gives up and says so.
    """

    start_s: float = Field(0.0, ge=0, le=SECONDS_MAX)
    duration_s: float = Field(gt=0, le=SECONDS_MAX)
    retry_after_s: int | None = Field(1, ge=0, le=DAY_S, description="the Retry-After sent (None: no header)")


class ServerErrors(Hit):
    """HTTP 5xx answers, as from an overloaded app server or a gateway in front of it."""

    statuses: tuple[int, ...] = Field(
        (500, 502, 503), json_schema_extra={"allowed": "a list of HTTP statuses from 500 to 599"}
    )

    @field_validator("statuses")
    @classmethod
    def _server_side(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(not 500 <= s <= 599 for s in v):
            raise ValueError("must list HTTP statuses from 500 to 599")
        return v


class Timeouts(Hit):
    """The server takes `hang_s` to answer; a client with a shorter read timeout gives up first."""

    hang_s: float = Field(60.0, gt=0, le=DAY_S)


class BodyFault(Hit):
    """A 200 whose body is broken: `truncated` (the connection drops mid-body, which the
    client sees as a protocol error) or `malformed` (a complete answer that is not JSON)."""


class ShortPages(Hit):
    """A listing page served with fewer records than asked although more follow."""

    keep: float = Field(0.5, gt=0, lt=1, description="share of the asked page size served")


class Duplicates(Hit):
    """Records repeated across pages: the last `overlap` records of a page come again on the next.

    Offset listings behave as if `overlap` records were inserted at the top after the
    first page (later pages shift and the total grows); a keyset page starts `overlap`
    records early, as with an inclusive `afterId` (same page size, so it reaches fewer
    new records); a cursor page repeats them in front of its records (its next link is unchanged).
    """

    overlap: int = Field(3, ge=1, le=PAGE_MAX)


class Faults(Model):
    """Every fault knob; all off by default. Hit rates are per distinct request, seeded."""

    storm: Storm | None = None
    server_errors: ServerErrors = ServerErrors()
    timeouts: Timeouts = Timeouts()
    resets: Hit = Hit()
    truncated: BodyFault = BodyFault()
    malformed: BodyFault = BodyFault()
    short_pages: ShortPages = ShortPages()
    duplicates: Duplicates = Duplicates()
    page_size: int | None = Field(
        None, ge=1, le=PAGE_MAX, description="the server ignores the asked page size and serves this"
    )

    @model_validator(mode="after")
    def _windows(self) -> Faults:
        for name in ("server_errors", "timeouts", "resets", "truncated", "malformed", "short_pages", "duplicates"):
            hit: Hit = getattr(self, name)
            if hit.until_s is not None and hit.until_s <= hit.from_s:
                raise ValueError(f"{name}.until_s: must be after from_s (allowed: > {hit.from_s:g})")
        return self

    @property
    def active(self) -> bool:
        hits = (self.server_errors, self.timeouts, self.resets, self.truncated, self.malformed)
        pages = (self.short_pages, self.duplicates)
        return self.storm is not None or self.page_size is not None or any(h.on for h in (*hits, *pages))
