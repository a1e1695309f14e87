"""A latency model fitted to a recording: what `[latency]` would make the simulator answer like the real API.

The simulator's model is `(base_s + per_item_s x items) x jitter`, jitter lognormal with
median 1, plus `connect_s` on a connection's first request. Per endpoint, base and
per-item cost come from least squares on (items in the response, latency) over the
answers on reused connections; the fit is then scaled so that it is the median, as the
model's is, and `jitter_sigma` is the spread of the log residuals over all endpoints.
`connect_s` is what a connection's first request took beyond the fitted answer.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.recordings.cassette import Interaction, result_records
from strategies import ApiProfile

__all__ = ["LatencyFit", "fit_latency"]

MAX_SIGMA = 2.0  # the scenario model's bound


@dataclass(frozen=True)
class LatencyFit:
    endpoints: dict[str, tuple[float, float]]  # endpoint -> (base_s, per_item_s)
    jitter_sigma: float
    connect_s: float
    throttled_s: float | None  # None: nothing was throttled or failed
    samples: int

    def predict(self, endpoint: str, items: int) -> float | None:
        cost = self.endpoints.get(endpoint)
        return None if cost is None else cost[0] + cost[1] * items


def _least_squares(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """(base, per_item) >= 0 minimising the squared error of base + per_item x items."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return mean_y, 0.0  # one page size only: base and per-item cost cannot be told apart
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    base = mean_y - slope * mean_x
    if slope < 0:
        return mean_y, 0.0
    if base < 0:
        return 0.0, sum(x * y for x, y in points) / sum(x * x for x in xs)
    return base, slope


def _median_scaled(
    points: Sequence[tuple[int, float]], cost: tuple[float, float]
) -> tuple[tuple[float, float], list[float]]:
    """The cost scaled so its log residuals centre on zero (the model's jitter has median 1), and those residuals."""
    logs = [math.log(y / (cost[0] + cost[1] * x)) for x, y in points if y > 0 and cost[0] + cost[1] * x > 0]
    if not logs:
        return cost, []
    shift = statistics.fmean(logs)
    factor = math.exp(shift)
    return (cost[0] * factor, cost[1] * factor), [r - shift for r in logs]


def fit_latency(interactions: Sequence[Interaction], profile: ApiProfile) -> LatencyFit:
    """Fit the simulator's latency model to a recording's measured latencies."""
    reused: dict[str, list[tuple[int, float]]] = {}
    fresh: list[tuple[str, int, float]] = []
    failed: list[float] = []
    for it in interactions:
        route = profile.route(it.path)
        records = result_records(it, profile)
        if route is None:
            continue
        if records is None:
            if not it.new_connection:
                failed.append(it.latency_s)
            continue
        if it.new_connection:
            fresh.append((route[0], len(records), it.latency_s))
        else:
            reused.setdefault(route[0], []).append((len(records), it.latency_s))
    endpoints: dict[str, tuple[float, float]] = {}
    residuals: list[float] = []
    for endpoint, points in sorted(reused.items()):
        endpoints[endpoint], logs = _median_scaled(points, _least_squares(points))
        residuals += logs
    extra = [y - (endpoints[e][0] + endpoints[e][1] * x) for e, x, y in fresh if e in endpoints]
    connect = max(0.0, statistics.median(extra)) if extra else 0.0
    unfitted: dict[str, list[tuple[int, float]]] = {}
    for e, x, y in fresh:  # endpoints seen only on new connections: fit what is left after the setup
        if e not in endpoints:
            unfitted.setdefault(e, []).append((x, max(0.0, y - connect)))
    for endpoint, points in sorted(unfitted.items()):
        endpoints[endpoint], _ = _median_scaled(points, _least_squares(points))
    sigma = min(MAX_SIGMA, statistics.pstdev(residuals)) if len(residuals) >= 2 else 0.0
    return LatencyFit(
        endpoints={e: (round(b, 6), round(p, 6)) for e, (b, p) in endpoints.items()},
        jitter_sigma=round(sigma, 6),
        connect_s=round(connect, 6),
        throttled_s=round(statistics.fmean(failed), 6) if failed else None,
        samples=len(interactions),
    )
