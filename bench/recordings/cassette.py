"""Cassette files: a vcrpy JSON cassette plus what syncbench needs to replay and import it.

The file is an ordinary vcrpy cassette (`{"version": 1, "interactions": [...]}`, the
JSON serializer), so vcrpy itself can play it back in a user's own tests. syncbench
adds two things vcrpy ignores on load: each response carries a `syncbench` object with
its measured latency, so the latency can never drift apart from its interaction (as a
sidecar file keyed by position could), and the top-level `metadata.syncbench` holds how
the session was recorded (strategy, fan-out, the API profile). JSON, not YAML: it loads
many times faster, which a replay of thousands of requests needs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from bench.errors import HarnessError
from bench.results.documents import Document, load_document
from bench.secrets import secret_params
from strategies import ApiProfile

__all__ = [
    "FORMAT",
    "Interaction",
    "Recording",
    "display_url",
    "load_cassette",
    "profile_to",
    "request_key",
    "result_records",
]

FORMAT = 1
#: response headers that describe the recorded bytes on the wire, not the content
_WIRE_HEADERS = {"content-length", "content-encoding", "transfer-encoding"}


class CassetteError(HarnessError):
    """A cassette that cannot be used; one line naming the file and the problem."""


def request_key(method: str, path: str, query: dict[str, str] | list[tuple[str, str]]) -> str:
    """Method, path and sorted query: the same request whatever order its parameters came in."""
    items = query.items() if isinstance(query, dict) else query
    return f"{method.upper()} {path}?{sorted(items)}"


def display_url(path: str, query: Any) -> str:
    """A request as a person reads it in an error: path and query, no host."""
    return f"{path}?{urlencode(list(query))}" if query else path


def profile_to(profile: ApiProfile) -> dict[str, Any]:
    return asdict(profile)


@dataclass(frozen=True, slots=True)
class Interaction:
    """One recorded request and its answer, with what the client measured."""

    method: str
    path: str  # without the base URL's own path prefix
    query: tuple[tuple[str, str], ...]
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    latency_s: float  # from the first byte sent (or the connection's start) to the last byte received
    new_connection: bool  # the request opened a connection

    @property
    def key(self) -> str:
        return request_key(self.method, self.path, list(self.query))

    @property
    def url(self) -> str:
        return display_url(self.path, self.query)


@dataclass(frozen=True)
class Recording:
    """A loaded cassette: its interactions in recorded order and how they were recorded."""

    path: Path
    interactions: list[Interaction]
    profile: ApiProfile
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem or "recording"


class CassetteMeta(Document):
    """`metadata.syncbench`: how the session was recorded (written by `syncbench record`)."""

    format: int
    strategy: str
    fanout: str
    workers: int
    account_workers: int
    options: dict[str, Any]
    profile: ApiProfile | None = None  # None: the simulator's own dialect
    base_path: str = ""
    recorded: dict[str, Any]  # figures of the recorded sync, to compare a replay with

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != FORMAT:
            raise ValueError(f"want {FORMAT} (the cassette format this syncbench reads), not {value}")
        return value


class _Metadata(Document):
    model_config = ConfigDict(extra="allow")  # other tools may keep their own metadata beside syncbench's

    syncbench: CassetteMeta


class _Cassette(Document):
    """A vcrpy JSON cassette with syncbench's metadata; each interaction is read by `_interaction`."""

    model_config = ConfigDict(extra="allow")  # vcrpy's own fields (`version`)

    interactions: list[Any] = Field(min_length=1)
    metadata: _Metadata

    @model_validator(mode="before")
    @classmethod
    def _recorded_by_syncbench(cls, data: Any) -> Any:
        if isinstance(data, dict) and "interactions" in data and "metadata" not in data:
            raise ValueError("no metadata.syncbench: record the cassette with `syncbench record`")
        return data


def load_cassette(path: Path) -> Recording:
    """Read and check a cassette; every problem is one line naming the file and the field."""
    cassette = load_document(path, _Cassette, what="cassette")
    meta = cassette.metadata.syncbench
    profile = meta.profile or ApiProfile()
    prefix = meta.base_path.rstrip("/")
    secret = secret_params(profile.auth_param)
    where = f"{path}: not a valid cassette: interactions"
    interactions = [_interaction(item, prefix, secret, f"{where}.{i}") for i, item in enumerate(cassette.interactions)]
    return Recording(path, interactions, profile, meta.model_dump())


def _interaction(item: Any, prefix: str, secret: tuple[str, ...], where: str) -> Interaction:
    try:
        request, response = item["request"], item["response"]
        url = urlsplit(request["uri"])
        measured = response["syncbench"]
        latency = float(measured["latency_s"])
        body = response["body"]["string"]
        headers = tuple(
            (name, str(value))
            for name, values in response["headers"].items()
            if name.lower() not in _WIRE_HEADERS
            for value in values
        )
        status = int(response["status"]["code"])
        method = str(request["method"]).upper()
        new = bool(measured.get("new_connection", False))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CassetteError(f"{where}: malformed ({type(error).__name__}: {error})") from None
    if not latency >= 0:
        raise CassetteError(f"{where}.response.syncbench.latency_s: must be a non-negative number")
    path = url.path
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :] or "/"
    query = tuple((k, v) for k, v in parse_qsl(url.query, keep_blank_values=True) if k not in secret)
    data = body.encode("utf-8") if isinstance(body, str) else b""
    return Interaction(method, path, query, status, headers, data, latency, new)


def result_records(interaction: Interaction, profile: ApiProfile) -> list[dict[str, Any]] | None:
    """The records of a successful listing or lookup, in our field names; None if it holds none."""
    if interaction.status != 200:
        return None
    try:
        body = json.loads(interaction.body)
    except ValueError:
        return None
    records = body.get(profile.result_field) if isinstance(body, dict) else None
    if not isinstance(records, list):
        return None
    ours = {theirs: mine for mine, theirs in profile.fields.items()}
    return [{(ours[k] if k in ours else k): v for k, v in r.items()} for r in records if isinstance(r, dict)]
