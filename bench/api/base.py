"""What every server core speaks: the simulated request and response, and the `ServerCore` protocol.

The simulated API, the fault layer around it and the replay of a recording all answer a
`SimRequest` at a simulated instant with a `SimResponse`; transports and `serve` need
nothing more of them than `ServerCore`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from bench.scenario.model import Scenario

__all__ = ["TIME_HEADER", "ServerCore", "SimRequest", "SimResponse"]

#: the response header in which `syncbench serve` tells the server's simulated time of a request's arrival
TIME_HEADER = "x-syncbench-t"


@dataclass(frozen=True, slots=True)
class SimRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]  # httpx's own `Headers` will do: only `authorization` is ever read


@dataclass(frozen=True, slots=True)
class SimResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    service_s: float
    endpoint: str
    throttled: bool = False
    #: conversations this response showed (listings) or served messages of
    conversations: tuple[int, ...] = ()
    #: set by the fault layer only: the transport raises this instead of delivering the response
    transport_fault: Literal["reset", "truncated"] | None = None


class ServerCore(Protocol):
    """A server a transport can carry requests to: it answers a request reaching it at simulated
    second `t`, and names the endpoint and account of a path (for the trace)."""

    @property
    def scenario(self) -> Scenario: ...

    def classify(self, path: str) -> tuple[str, str | None]: ...

    def handle(self, request: SimRequest, t: float) -> SimResponse: ...
