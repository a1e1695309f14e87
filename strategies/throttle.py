"""Client-side throttle: space requests at most `rps` per second, whatever the worker count."""

from __future__ import annotations

__all__ = ["Throttle"]


class Throttle:
    """Reserves send slots in order; the caller sleeps the returned wait through its clock."""

    def __init__(self, rps: float) -> None:
        if rps <= 0:
            raise ValueError("throttle must be a positive number of requests per second")
        self.interval = 1.0 / rps
        self._next = float("-inf")

    def reserve(self, now: float) -> float:
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now
