"""Run a strategy over real sockets in wall time: RealClock, a real httpx client, a client-side trace.

The same sync session as the in-process runner (bench/run/session.py) with a different link:
the trace (calls, throttling, makespan, connections) is recorded by a transport that wraps
httpx's own (bench/transport/wall.py). Coverage needs ground truth, so it is computed only
when the world is known (a run against `syncbench serve` of the same scenario and seed);
otherwise it is null. The token reaches the client as httpx auth. It is checked before the first
request (`bench.secrets.check_token`, against every name a row or request holds), scrubbed from
every row and trace line, and every answer is watched: a token inside the records an API
answers cannot be scrubbed without changing them, so the run stops there and nothing is kept.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.clock import RealClock
from bench.errors import HarnessError
from bench.measure.row import KEY_FIELDS, MEASURED_FIELDS, Missed, Row
from bench.run.runner import RunResult, RunSpec
from bench.run.session import Session, Traffic, profile_for
from bench.secrets import Secret, check_token, redact, scrub
from bench.store import SqliteStore
from bench.transport.trace import TraceEntry
from bench.transport.wall import Tracer, shifted, wall_client
from bench.world.records import World
from strategies import ApiProfile, DriverStats, get_strategy
from strategies.profile import ENDPOINTS

__all__ = ["WallLink", "check_base_url", "real_token", "run_real", "token_words"]

#: what a row without ground truth says of its coverage
NO_TRUTH = "coverage unknown: no ground truth without --scenario (the server's world)"
#: what a row's status says
STATUSES = ("ok", "failed")


def token_words(spec: RunSpec, profile: ApiProfile) -> list[str]:
    """What a row, a trace line or a request holds whatever the data: field, route and status names, the
    run's key and the API profile; a token inside any of them cannot be scrubbed without mangling it."""
    names = [*KEY_FIELDS, *MEASURED_FIELDS, *Row.__annotations__, *Missed.__annotations__, *ENDPOINTS]
    names += [f.name for f in dataclasses.fields(TraceEntry)]
    return [*names, *STATUSES, NO_TRUTH, json.dumps(spec.key(0)), json.dumps(dataclasses.asdict(profile))]


def real_token(token: str | None, spec: RunSpec, profile: ApiProfile, words: list[str] | None = None) -> Secret | None:
    """Refuse, before any request, a token that cannot be sent or scrubbed safely (one line, exit 2)."""
    return check_token(token, [*token_words(spec, profile), *(words or [])], in_header=profile.auth == "bearer")


class _Watched(httpx.Auth):
    """The API's token auth, reading each answer: a token inside the records an API answers cannot be
    scrubbed without changing them, so the run stops with one line and nothing is written."""

    requires_response_body = True

    def __init__(self, inner: httpx.Auth, secret: Secret, profile: ApiProfile) -> None:
        self.inner, self.secret, self.profile = inner, secret, profile

    def __repr__(self) -> str:
        return repr(self.inner)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        flow = self.inner.sync_auth_flow(request)
        sent = next(flow)
        while True:
            response = yield sent
            self._check(response)
            try:
                sent = flow.send(response)
            except StopIteration:
                return

    def _check(self, response: httpx.Response) -> None:
        if not self.secret.found(response.text):  # the usual answer: no form of the token anywhere, no parse
            return
        try:
            body = response.json()
        except ValueError:
            return
        records = body.get(self.profile.result_field) if isinstance(body, dict) else None
        if records is not None and self.secret.found(json.dumps(records, ensure_ascii=False)):
            where = redact(f"{response.request.method} {response.request.url.path}", self.secret)
            raise HarnessError(
                f"{where}: the token occurs in the records the API answered; it cannot be scrubbed "
                "without changing them, so nothing was written (use a different token)"
            )


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
    secret = real_token(token, spec, profile)
    auth = _Watched(profile.auth_for(token), secret, profile) if token and secret is not None else None
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
            trace.extend(_scrubbed(done.trace, secret))
    finally:
        store.close()
    return RunResult(rows, trace)


def _scrubbed(trace: list[TraceEntry], secret: Secret | None) -> list[TraceEntry]:
    """Trace lines without the token in their paths (an API may put it in the next links it answers)."""
    if secret is None:
        return trace
    return [
        dataclasses.replace(e, path=secret.redact(e.path), endpoint=secret.redact(e.endpoint))
        if secret.found(e.path + e.endpoint)
        else e
        for e in trace
    ]
