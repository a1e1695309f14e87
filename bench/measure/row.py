"""The result row: one sync of one run, its key and its measured fields (docs/design.md, Contracts).

Every reader and writer of rows (the measurement, results.csv, reports, the gate) takes the
field names and their order from here.
"""

from typing import (
    Any,
    NotRequired,  # pydantic validates these TypedDicts on Python 3.11
)

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

__all__ = ["COVERAGE_FIELDS", "KEY_FIELDS", "MEASURED_FIELDS", "Missed", "Row"]

#: what a row is a measurement of; `options` holds the run options that differ from their defaults
KEY_FIELDS = ("scenario", "strategy", "fanout", "workers", "account_workers", "seed", "sync", "options")

#: judged against the ground truth: null when there is none (a real API)
COVERAGE_FIELDS = (
    "conversations_expected",
    "conversations_found",
    "conversations_missed",
    "missed",
    "overfetched",
    "ahead",
    "duplicates",
    "messages_expected",
    "messages_stored",
    "coverage",
)

#: every measured field, in the order rows hold them (and results.csv's columns follow)
MEASURED_FIELDS = (
    "status",
    "error",
    "makespan_s",
    "phase_seconds",
    "api_calls",
    "calls_by_endpoint",
    "pages_by_endpoint",
    "rate_limited",
    "retries",
    "peak_concurrency",
    "connections",
    *COVERAGE_FIELDS,
    "lower_bound_s",
    "efficiency",
)


class Missed(TypedDict):
    id: int
    reason: str


@with_config(ConfigDict(extra="allow"))
class Row(TypedDict):
    """A result row as results.json holds it; readers validate rows against it (bench/results/documents.py),
    and fields it does not name are kept (`note` on rows that explain their coverage, say)."""

    scenario: str
    strategy: str
    fanout: str
    workers: int
    account_workers: int
    seed: int
    sync: int
    options: dict[str, Any]
    status: str
    error: str | None
    makespan_s: float
    phase_seconds: dict[str, float]
    api_calls: int
    calls_by_endpoint: dict[str, int]
    pages_by_endpoint: dict[str, int]
    rate_limited: int
    retries: int
    peak_concurrency: int
    connections: int
    conversations_expected: int | None
    conversations_found: int | None
    conversations_missed: int | None
    missed: list[Missed]
    overfetched: int | None
    ahead: int | None
    duplicates: int | None
    messages_expected: int | None
    messages_stored: int | None
    coverage: float | None
    lower_bound_s: float
    efficiency: float
    note: NotRequired[str]
