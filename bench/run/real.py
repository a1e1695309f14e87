"""Run a strategy over real sockets in wall time: RealClock, a real httpx client, a client-side trace.

The same sync session as the in-process runner (bench/run/session.py) with a different link:
the trace (calls, throttling, makespan, connections) is recorded by a transport that wraps
httpx's own (bench/transport/wall.py). Coverage needs ground truth, so it is computed only
when the world is known (a run against `syncbench serve` of the same scenario and seed);
otherwise it is null. The token reaches the client as httpx auth and is scrubbed from every row.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.clock import RealClock
from bench.errors import HarnessError
from bench.run.runner import RunResult, RunSpec
from bench.run.session import Session, Traffic, profile_for
from bench.secrets import scrub
from bench.store import SqliteStore
from bench.transport.trace import TraceEntry
from bench.transport.wall import Tracer, shifted, wall_client
from bench.world.records import World
from strategies import ApiProfile, DriverStats, get_strategy

__all__ = ["WallLink", "check_base_url", "run_real"]

#: what a row without ground truth says of its coverage
NO_TRUTH = "coverage unknown: no ground truth without --scenario (the server's world)"


def check_base_url(base_url: str, timeout: float = 3.0) -> None:
    """Refuse a malformed or unreachable base URL up front (one line, never the URL's secrets)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HarnessError("--base-url must be an http:// or https:// URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise HarnessError(f"cannot reach {parts.scheme}://{parts.hostname}:{port}: {reason}") from None


class WallLink:
    """Requests over real sockets to `base_url`, traced in wall time and moved onto the server's clock.

    The sync is anchored where the server saw it begin (its first request's arrival, from the
    server's time header), as the simulated sync begins when its first request reaches the
    simulated server; without that header the previous sync's offset holds."""

    def __init__(
        self, base_url: str, auth: httpx.Auth | None, profile: ApiProfile, clock: RealClock, offset: float
    ) -> None:
        self.base_url = base_url
        self.auth = auth
        self.offset = offset
        self.tracer = Tracer(clock, profile)

    def client(self, fanout: str) -> httpx.Client | httpx.AsyncClient:
        return wall_client(fanout, self.base_url, self.auth, self.tracer)

    def settle(self, start_t: float, end_t: float, stats: DriverStats) -> Traffic:
        tracer = self.tracer
        offset = tracer.first[1] - start_t if tracer.first is not None else self.offset
        stats.store_spans = [(a + offset, b + offset) for a, b in stats.store_spans]
        entries = shifted(tracer.entries(), offset)
        return Traffic(entries, start_t + offset, end_t + offset, tracer.peak_in_flight, tracer.connections, offset)


def run_real(
    spec: RunSpec,
    base_url: str,
    *,
    world: World | None,
    profile: ApiProfile | None = None,
    token: str | None = None,
) -> RunResult:
    """Run the scenario's syncs against `base_url` in wall time; one row per sync.

    `world` is the server's world when known (the same scenario and seed as `syncbench
    serve`): it gives the bookmark, the sync schedule and the ground truth. Trace times
    are moved onto the server's clock when it reports it (the `x-syncbench-t` header).
    """
    scenario, opts = spec.scenario, spec.options
    strategy = get_strategy(spec.strategy)  # before any clock starts: it scans installed entry points (~40 ms)
    profile = profile or profile_for(scenario)
    auth = profile.auth_for(token) if token else None
    clock = RealClock()
    store = SqliteStore(cost=scenario.store, write_mode=opts.write_mode, chunk_size=opts.chunk_size)
    session = Session(world, scenario=scenario, clock=clock, store=store, profile=profile, lookback_s=opts.lookback_s)
    rows: list[dict[str, Any]] = []
    trace: list[TraceEntry] = []
    schedule = scenario.sync_times if world is not None else [0.0]
    try:
        for index, scheduled in enumerate(schedule):
            session.wait_until(scheduled)
            link = WallLink(base_url, auth, profile, clock, session.offset)
            done = session.sync(strategy, spec.fanout, opts, link, last=index == len(schedule) - 1)
            key = spec.key(index)
            key["options"] = {**key["options"], "clock": "real"}
            row = key | done.row | ({"note": NO_TRUTH} if world is None else {})
            rows.append(scrub(row, token))
            trace.extend(done.trace)
    finally:
        store.close()
    return RunResult(rows, trace)
