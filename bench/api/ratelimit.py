"""Server-side rate limiters: they decide, at a simulated instant, whether a request is admitted."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Decision", "FixedWindow", "Unlimited"]


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    limit: int
    remaining: int
    reset_s: float  # seconds until the quota refills


class FixedWindow:
    """At most `limit` admitted requests per key in each window aligned to multiples of `window_s`."""

    def __init__(self, limit: int, window_s: float, count_rejected: bool = False) -> None:
        self.limit = limit
        self.window_s = window_s
        self.count_rejected = count_rejected
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window index, used)

    def admit(self, key: str, t: float) -> Decision:
        index = math.floor(t / self.window_s)
        current, used = self._windows.get(key, (index, 0))
        if current != index:
            used = 0
        admitted = used < self.limit
        if admitted or self.count_rejected:
            used += 1
        self._windows[key] = (index, used)
        reset = (index + 1) * self.window_s - t
        return Decision(admitted, self.limit, max(0, self.limit - used), reset)


class Unlimited:
    def admit(self, key: str, t: float) -> Decision:
        return Decision(True, 0, 0, 0.0)
