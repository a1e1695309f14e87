"""`syncbench selftest --overhead`: what the harness costs next to plain httpx.

The full stack (strategy -> httpx -> transport -> simulator -> virtual clock -> store)
runs `full-pagination` on pms-1000; then plain httpx over `httpx.MockTransport`
sends the same requests and gets the same response bodies, prepared in advance, in
the same mode: one after another, from 20 real threads, or from 20 asyncio tasks.
The ratio of requests per host second is the harness's efficiency (target: >= 0.5).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

import httpx

import bench.runner
from bench.api import SimRequest, SimResponse, SimulatedAPI
from bench.runner import BASE_URL, RunSpec, run
from bench.scenario import load_scenario
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
    with mock.patch.object(bench.runner, "SimulatedAPI", _Recording):
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


def overhead(repeats: int = 3) -> dict[str, Any]:
    """Per mode: full-stack and plain requests per host second (best of `repeats`, interleaved) and their ratio."""
    modes: dict[str, Any] = {}
    for mode, workers in (("sequential", 1), ("threads", 20), ("async", 20)):
        full_best, plain_best, calls = float("inf"), float("inf"), 0
        for _ in range(repeats):
            seconds, calls, log = _full_stack(mode, workers)
            full_best = min(full_best, seconds)
            plain_best = min(plain_best, _plain(mode, workers, log))
        full_rps, plain_rps = calls / full_best, calls / plain_best
        modes[mode] = {
            "full_stack_rps": round(full_rps, 1),
            "plain_rps": round(plain_rps, 1),
            "ratio": round(full_rps / plain_rps, 3),
            "requests": calls,
        }
    return {"modes": modes}
