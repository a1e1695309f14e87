"""Shared fixtures: small in-code scenarios and a one-call helper for the simulated API."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from bench.api.base import SimRequest
from bench.api.core import SimulatedAPI
from bench.scenario.model import Scenario
from bench.world.dataset import generate
from bench.world.records import World

#: A tiny world: one account, a few dozen conversations, no rate limit, no jitter.
TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 7,
    "dataset": {"accounts": 1, "conversations": 25, "orphans": 0, "messages": [1, 3], "history_days": 30},
    "activity": {"cutoff_ago_s": 86400, "active": 0, "during_sync": 0},
    "dialect": {"pagination": "offset", "page_size": 10, "max_page_size": 10, "timestamp_precision": "s"},
    "rate_limit": {"algorithm": "none"},
    "latency": {"jitter_sigma": 0},
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture
def make_scenario() -> Callable[..., Scenario]:
    """`make_scenario(dataset={"conversations": 30}, ...)`: the tiny scenario with sections overridden."""

    def make(**overrides: Any) -> Scenario:
        return Scenario.model_validate(_merge(TINY, overrides))

    return make


@pytest.fixture
def make_world(make_scenario: Callable[..., Scenario]) -> Callable[..., World]:
    """`make_world(**overrides)`: the generated world of a tiny scenario."""

    def make(**overrides: Any) -> World:
        return generate(make_scenario(**overrides))

    return make


class ApiCaller:
    """Sends GETs straight to a `SimulatedAPI` and decodes the JSON envelope."""

    def __init__(self, api: SimulatedAPI) -> None:
        self.api = api

    def __call__(self, path: str, t: float = 0.0, **query: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        request = SimRequest("GET", path, {k: str(v) for k, v in query.items()}, {})
        response = self.api.handle(request, t)
        return response.status, {k.lower(): v for k, v in response.headers}, json.loads(response.body)


@pytest.fixture
def api_for() -> Callable[[World], ApiCaller]:
    """`get = api_for(world)`; `status, headers, body = get(path, t, **query)`."""
    return lambda world: ApiCaller(SimulatedAPI(world))
