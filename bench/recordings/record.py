"""`syncbench record`: run a strategy against a real API in wall time and keep the session as a cassette.

The run is the real-socket run (`bench.run.real.run_real`); vcrpy, which patches httpx's
transports, records every request and response, and this module times each one from
httpcore's own trace events (the first byte sent, or the connection's start, to the
last byte received), so the figure is the server's and the network's, not the
recorder's. The token is checked first, against every name a cassette holds besides the
data; secrets are scrubbed by vcrpy's filters and `bench.secrets` as each interaction is
recorded; the cassette is written once, at the end, atomically, after a last check that
no form of the token is anywhere in it. A token inside the records the API answers stops
the recording (`bench.run.real`): nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import httpx

from bench.errors import HarnessError
from bench.recordings.cassette import FORMAT, profile_to
from bench.results.files import atomic_write
from bench.run.real import real_token, run_real
from bench.run.runner import RunResult, RunSpec
from bench.secrets import REQUEST_HEADERS, Scrubber, secret_params
from strategies import ApiProfile

__all__ = ["record_session", "require_vcrpy"]

#: figures of the recorded sync kept in the cassette, for comparing a replay with the original
_FIGURES = ("status", "makespan_s", "api_calls", "calls_by_endpoint", "rate_limited", "retries", "peak_concurrency")
#: the names a cassette holds besides the API's own: vcrpy's, syncbench's and the HTTP headers it sends
_CASSETTE_WORDS = (
    "interactions request response headers body string status code message uri method version metadata "
    "syncbench format strategy fanout workers account_workers options profile base_path recorded latency_s "
    "new_connection accept-encoding identity content-type content-length application/json user-agent "
    "python-httpx keep-alive connection host"
).split()


@dataclass
class _Timing:
    began: float
    sent: float | None = None
    done: float | None = None
    new: bool = False

    def note(self, name: str) -> None:
        """One httpcore trace event (`connection.connect_tcp.started`, `http11.send_request_headers.started`...)."""
        now = time.perf_counter()
        if name.endswith("connect_tcp.started"):
            self.new = True
            self.sent = self.sent if self.sent is not None else now
        elif name.endswith("send_request_headers.started"):
            self.sent = self.sent if self.sent is not None else now
        elif name.endswith("receive_response_body.complete"):
            self.done = now

    def latency_s(self) -> float:
        end = self.done if self.done is not None else time.perf_counter()
        return max(0.0, end - (self.sent if self.sent is not None else self.began))


#: the timing of the request this thread (or task) is sending; vcrpy records it in the same thread
_CURRENT: ContextVar[_Timing | None] = ContextVar("syncbench_record_timing", default=None)


def _prepare(request: httpx.Request) -> _Timing:
    """Ask for an uncompressed body: a compressed one could hide the token from the scrubber."""
    request.headers["accept-encoding"] = "identity"
    return _Timing(time.perf_counter())


def _timed(vcr_sync: Callable[..., Any], vcr_async: Callable[..., Any]) -> tuple[Callable[..., Any], ...]:
    """vcrpy's patched transports, wrapped: each request's trace events are watched (and still passed on
    to the tracer the real-socket run installed), and its timing is what vcrpy's hooks see while it records."""

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        timing = _prepare(request)
        inner = request.extensions.get("trace")

        def trace(name: str, info: dict[str, Any]) -> None:
            timing.note(name)
            if inner is not None:
                inner(name, info)

        request.extensions["trace"] = trace
        token = _CURRENT.set(timing)
        try:
            return vcr_sync(self, request)
        finally:
            _CURRENT.reset(token)

    async def handle_async_request(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        timing = _prepare(request)
        inner = request.extensions.get("trace")

        async def trace(name: str, info: dict[str, Any]) -> None:
            timing.note(name)
            if inner is not None:
                await inner(name, info)

        request.extensions["trace"] = trace
        token = _CURRENT.set(timing)
        try:
            return await vcr_async(self, request)
        finally:
            _CURRENT.reset(token)

    return handle_request, handle_async_request


def _stamp(response: dict[str, Any]) -> dict[str, Any]:
    """vcrpy's last before_record_response hook: the measured latency rides with its own interaction."""
    timing = _CURRENT.get()
    latency = timing.latency_s() if timing is not None else 0.0
    response["syncbench"] = {"latency_s": round(latency, 6), "new_connection": bool(timing and timing.new)}
    return response


class _Held:
    """vcrpy's persister for a recording: loads nothing (an old file is never merged in) and keeps the
    cassette in memory, so the command writes it once, checked, atomically."""

    def __init__(self) -> None:
        self.saved: dict[str, Any] | None = None

    def load_cassette(self, path: str, serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteNotFoundError

        raise CassetteNotFoundError()

    def save_cassette(self, path: str, cassette_dict: dict[str, Any], serializer: Any) -> None:
        self.saved = cassette_dict


@contextlib.contextmanager
def _recording(scrubber: Scrubber, params: Sequence[str], held: _Held) -> Iterator[None]:
    import vcr

    recorder = vcr.VCR(
        serializer="json",
        record_mode="all",
        match_on=(),  # nothing is ever played back while recording: skip vcrpy's scan of the cassette per request
        filter_headers=[(h, None) for h in REQUEST_HEADERS],
        filter_query_parameters=[(p, None) for p in params],
        before_record_request=scrubber.request,
        before_record_response=[scrubber.response, _stamp],
        decode_compressed_response=True,
        record_on_exception=False,
    )
    with recorder.use_cassette("recording.json", persister=held):
        sync_timed, async_timed = _timed(
            httpx.HTTPTransport.handle_request, httpx.AsyncHTTPTransport.handle_async_request
        )
        with (
            mock.patch.object(httpx.HTTPTransport, "handle_request", sync_timed),
            mock.patch.object(httpx.AsyncHTTPTransport, "handle_async_request", async_timed),
        ):
            yield


def require_vcrpy() -> None:
    """vcrpy is a test extra of syncbench, needed only to record: say so rather than fail on an import."""
    try:
        import vcr  # noqa: F401
    except ImportError:
        raise HarnessError("`syncbench record` needs vcrpy: pip install vcrpy (or syncbench[test])") from None


def record_session(
    spec: RunSpec, base_url: str, *, profile: ApiProfile, token: str | None, out: Path
) -> tuple[RunResult, int]:
    """Run `spec` against `base_url`, write the scrubbed cassette to `out`; the run and the interactions kept."""
    require_vcrpy()
    real_token(token, spec, profile, [*_CASSETTE_WORDS, base_url])
    from vcr.serialize import serialize
    from vcr.serializers import jsonserializer

    params = secret_params(profile.auth_param)
    scrubber = Scrubber(token, params)
    held = _Held()
    with _recording(scrubber, params, held):
        result = run_real(spec, base_url, world=None, profile=profile, token=token)
    if held.saved is None or not held.saved["requests"]:
        raise HarnessError(f"no request reached {scrubber.link(base_url)}; nothing recorded")
    document = json.loads(serialize(held.saved, jsonserializer))
    row = result.rows[0]
    document["metadata"] = {
        "syncbench": {
            "format": FORMAT,
            "strategy": spec.strategy,
            "fanout": spec.fanout,
            "workers": spec.options.workers,
            "account_workers": spec.options.account_workers,
            "options": row["options"],
            "profile": profile_to(profile),
            "base_path": urlsplit(base_url).path.rstrip("/"),
            "recorded": {name: row[name] for name in _FIGURES},
        }
    }
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    scrubber.check(text, "cassette")
    atomic_write(out, text)
    return result, len(document["interactions"])
