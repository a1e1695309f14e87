"""`syncbench run --cassette`: a recorded session replayed on the virtual clock with its recorded latencies.

`ReplayAPI` has the simulated API's interface (`handle(request, t) -> SimResponse`,
`classify`, `scenario`), so the ordinary transports, drivers and fan-out modes run
against it unchanged. Its index is built once: a queue of recorded answers per request
(method, path, sorted query), served in recorded order; a request asked again after its
queue ran dry gets its last answer again (the API would answer it again). A request
the recording never made is an error naming it. The ground truth is the recording's
own records, as `syncbench import` reads them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

import httpx

from bench.api.base import SimRequest, SimResponse
from bench.clock import VirtualClock
from bench.errors import HarnessError
from bench.recordings.cassette import (
    Interaction,
    Recording,
    display_url,
    request_key,
    result_records,
)
from bench.run.runner import RunResult, RunSpec
from bench.run.session import Session, SimLink
from bench.scenario.model import Scenario
from bench.secrets import secret_params
from bench.store import SqliteStore
from strategies import ApiProfile, Options, get_strategy
from strategies.retry import is_throttled

__all__ = ["ReplayAPI", "ReplayMiss", "replay"]

NOTE = "coverage against the records the recording showed (a first sync of everything it saw)"


class ReplayMiss(HarnessError):
    """The strategy asked for something the recording does not hold."""


class ReplayAPI:
    """Recorded answers, looked up in O(1) per request."""

    def __init__(self, recording: Recording, scenario: Scenario) -> None:
        self.recording = recording
        self.scenario = scenario
        self.profile: ApiProfile = recording.profile
        self._secret = secret_params(self.profile.auth_param)
        connect_s = scenario.latency.connect_s
        self._queues: dict[str, deque[SimResponse]] = {}
        for it in recording.interactions:
            self._queues.setdefault(it.key, deque()).append(self._answer(it, connect_s))
        self._last: dict[str, SimResponse] = {}

    def classify(self, path: str) -> tuple[str, str | None]:
        route = self.profile.route(path)
        if route is None:
            return "unknown", None
        return route[0], route[1].get("account")

    def _answer(self, it: Interaction, connect_s: float) -> SimResponse:
        """The recorded answer; a connection's setup is the transport's to charge, so it is taken out."""
        endpoint, _ = self.classify(it.path)
        service = max(0.0, it.latency_s - connect_s) if it.new_connection else it.latency_s
        throttled = it.status in (400, 403, 429) and is_throttled(  # only these can be throttling
            httpx.Response(it.status, headers=list(it.headers), content=it.body)
        )
        shown: tuple[int, ...] = ()
        if endpoint in ("conversations", "reservation_conversations"):
            records = result_records(it, self.profile) or []
            shown = tuple(r["id"] for r in records if isinstance(r.get("id"), int))
        elif endpoint == "messages" and it.status == 200:
            route = self.profile.route(it.path)
            conversation = route[1].get("conversation", "") if route else ""
            shown = (int(conversation),) if conversation.isdigit() else ()
        return SimResponse(
            it.status, list(it.headers), it.body, service, endpoint, throttled=throttled, conversations=shown
        )

    def handle(self, request: SimRequest, t: float) -> SimResponse:
        query = [(k, v) for k, v in request.query.items() if k not in self._secret]
        key = request_key(request.method, request.path, query)
        queue = self._queues.get(key)
        if queue:
            self._last[key] = queue.popleft()
            return self._last[key]
        if key in self._last:
            return self._last[key]
        url = display_url(request.path, sorted(query))
        meta = self.recording.meta
        raise ReplayMiss(
            f"{request.method} {url} is not in the recording {self.recording.path} (recorded with "
            f"--strategy {meta.get('strategy')}; replay the same strategy, page size and options)"
        )


def replay(recording: Recording, strategy: str, fanout: str, options: Options) -> tuple[RunResult, Scenario]:
    """Replay a loaded cassette once; one row, judged against the recording's own records."""
    from bench.recordings.importer import scenario_from
    from bench.world.dataset import build_world

    scenario = scenario_from(recording, first_sync=True)
    spec = RunSpec(scenario, strategy, fanout, options)  # refuses bad worker counts
    world = build_world(scenario)
    api = ReplayAPI(recording, scenario)
    store = SqliteStore(cost=scenario.store, write_mode=options.write_mode, chunk_size=options.chunk_size)
    clock = VirtualClock()
    profile = replace(recording.profile, page_size=scenario.dialect.page_size)  # as recorded
    session = Session(
        world, scenario=scenario, clock=clock, store=store, profile=profile, lookback_s=options.lookback_s
    )
    try:
        done = session.sync(get_strategy(strategy), fanout, options, SimLink(api, clock), last=True)
    finally:
        clock.stop()  # an interrupt can leave workers mid-turn: they end before the store closes under them
        store.close()
    row: dict[str, Any] = spec.key(0) | done.row | {"note": NOTE}
    return RunResult([row], done.trace), scenario
