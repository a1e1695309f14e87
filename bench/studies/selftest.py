"""`syncbench selftest --overhead`: what the harness costs next to plain httpx.

The full stack (strategy -> httpx -> transport -> simulator -> virtual clock -> store)
runs `full-pagination` on pms-1000; then plain httpx over `httpx.MockTransport`
sends the same requests and gets the same response bodies, prepared in advance, in
the same mode: one after another, from 20 real threads, or from 20 asyncio tasks.
The ratio of requests per host second is the harness's efficiency (target: >= 0.5).

The two sides are measured in pairs, one right after the other (each side first in every
other pair), and the pair with the median ratio is reported. A shared or virtual machine's speed drifts by a third over
seconds; a pair shares the machine's state, so its ratio keeps steady where the best
time of each side, taken apart, may come from a fast moment on one side only.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import httpx

import bench.run.runner
from bench.api.base import SimRequest, SimResponse
from bench.api.core import SimulatedAPI
from bench.run.runner import BASE_URL, RunSpec, run
from bench.scenario.model import load_scenario
from strategies import Options

__all__ = ["overhead"]

Key = tuple[str, str, tuple[tuple[str, str], ...]]


class _Recording(SimulatedAPI):
    """The simulated API, remembering every request and answer in order (keyed after the run, so the
    recording adds next to nothing to the time measured)."""

    log: list[tuple[SimRequest, SimResponse]]

    def handle(self, request: SimRequest, t: float) -> SimResponse:
        response = super().handle(request, t)
        type(self).log.append((request, response))
        return response


def _key(request: SimRequest) -> Key:
    return request.method, request.path, tuple(sorted(request.query.items()))


def _full_stack(mode: str, workers: int) -> tuple[float, int, list[tuple[Key, SimResponse]]]:
    """Host seconds and requests of one full-stack run, and what the API answered."""
    scenario = load_scenario("pms-1000")
    _Recording.log = []
    with mock.patch.object(bench.run.runner, "SimulatedAPI", _Recording):
        began = time.perf_counter()
        row = run(RunSpec(scenario, "full-pagination", mode, Options(workers=workers))).rows[0]
        seconds = time.perf_counter() - began
    return seconds, row["api_calls"], [(_key(request), response) for request, response in _Recording.log]


def _prepared(log: list[tuple[Key, SimResponse]]) -> dict[Key, deque[SimResponse]]:
    answers: dict[Key, deque[SimResponse]] = defaultdict(deque)
    for key, response in log:
        answers[key].append(response)
    return answers


def _handler(answers: dict[Key, deque[SimResponse]]) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        key = (request.method, request.url.path, tuple(sorted(request.url.params.items())))
        sim = answers[key].popleft()
        return httpx.Response(sim.status, headers=sim.headers, content=sim.body)

    return handle


def _plain(mode: str, workers: int, log: list[tuple[Key, SimResponse]]) -> float:
    """Host seconds for plain httpx to send the same requests and read the same bodies."""
    requests = [key for key, _ in log]
    transport = httpx.MockTransport(_handler(_prepared(log)))
    if mode == "async":
        return asyncio.run(_plain_async(requests, transport, workers))
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:

        def send(key: Key) -> None:
            method, path, query = key
            client.send(client.build_request(method, path, params=dict(query) or None)).read()

        began = time.perf_counter()
        if mode == "sequential":
            for key in requests:
                send(key)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(send, requests))
        return time.perf_counter() - began


async def _plain_async(requests: list[Key], transport: httpx.MockTransport, workers: int) -> float:
    queue = iter(requests)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:

        async def slot() -> None:
            for method, path, query in queue:
                response = await client.send(client.build_request(method, path, params=dict(query) or None))
                await response.aread()

        began = time.perf_counter()
        await asyncio.gather(*(slot() for _ in range(workers)))
        return time.perf_counter() - began


def overhead(repeats: int = 7) -> dict[str, Any]:
    """Per mode: full-stack and plain requests per host second and their ratio, from the median of
    `repeats` pairs; `spread` is the lowest and highest ratio of the pairs."""
    modes: dict[str, Any] = {}
    for mode, workers in (("sequential", 1), ("threads", 20), ("async", 20)):
        pairs: list[tuple[float, float]] = []
        log: list[tuple[Key, SimResponse]] = []
        calls = 0
        for index in range(repeats):
            if index % 2:  # every other pair runs plain httpx first (on the same requests, recorded before),
                plain = _plain(mode, workers, log)  # so what the first of two leaves behind falls on both alike
                seconds, calls, log = _full_stack(mode, workers)
            else:
                seconds, calls, log = _full_stack(mode, workers)
                plain = _plain(mode, workers, log)
            pairs.append((calls / seconds, calls / plain))
        pairs.sort(key=lambda pair: pair[0] / pair[1])
        full_rps, plain_rps = pairs[(len(pairs) - 1) // 2]  # with an even count, the lower middle pair
        modes[mode] = {
            "full_stack_rps": round(full_rps, 1),
            "plain_rps": round(plain_rps, 1),
            "ratio": round(full_rps / plain_rps, 3),
            "spread": [round(pairs[0][0] / pairs[0][1], 3), round(pairs[-1][0] / pairs[-1][1], 3)],
            "requests": calls,
        }
    return {"modes": modes}
