"""How long the simulated server takes to answer: base + per item, times seeded lognormal jitter."""

from __future__ import annotations

import random
import zlib
from functools import lru_cache

from bench.scenario.model import Latency

__all__ = ["LatencyModel"]


class LatencyModel:
    """Service time of one response. The jitter of a request depends only on the seed,
    the request and how often that same request was made before, never on the order in
    which workers made their requests, so the same call costs the same in every mode."""

    def __init__(self, latency: Latency, seed: int) -> None:
        self.latency = latency
        self.seed = seed
        self._repeats: dict[str, int] = {}

    def service_s(self, endpoint: str, items: int, request_key: str) -> float:
        cost = self.latency.endpoints[endpoint]
        base = cost.base_s + cost.per_item_s * items
        return base * self._jitter(request_key)

    def throttled_s(self) -> float:
        return self.latency.throttled_s

    def _jitter(self, request_key: str) -> float:
        if self.latency.jitter_sigma == 0:
            return 1.0
        n = self._repeats.get(request_key, 0)
        self._repeats[request_key] = n + 1
        mix = zlib.crc32(f"{request_key}#{n}".encode()) ^ (self.seed * 0x9E3779B1)
        return _lognormal(mix, self.latency.jitter_sigma)


@lru_cache(maxsize=1 << 16)
def _lognormal(mix: int, sigma: float) -> float:
    """The draw seeded by `mix`; cached, as every run of a sweep makes the same requests again and
    seeding a generator costs more than the rest of a request's latency model."""
    return random.Random(mix).lognormvariate(0.0, sigma)
