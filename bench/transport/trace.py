"""One line of the per-request trace: every transport (simulated, wall-clock, replay) writes these."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TraceEntry"]


@dataclass(slots=True)
class TraceEntry:
    start: float
    end: float
    method: str
    endpoint: str
    path: str
    status: int
    bytes: int
    worker: str
    attempt: int
    phase: str
    account: str | None
    new_connection: bool
    throttled: bool
    conversations: tuple[int, ...] = ()
