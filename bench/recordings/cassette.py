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
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench.errors import HarnessError
from strategies import ApiProfile

__all__ = [
    "FORMAT",
    "SECRET_PARAMS",
    "Interaction",
    "Recording",
    "display_url",
    "load_cassette",
    "profile_from",
    "profile_to",
    "request_key",
    "result_records",
]

FORMAT = 1
#: query parameters that carry credentials: dropped from every recorded URL and link
SECRET_PARAMS = ("access_token", "token", "key")
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


def profile_from(raw: Any, where: str) -> ApiProfile:
    """The recorded profile; keys this version does not know are an error, not silently dropped."""
    if raw is None:
        return ApiProfile()
    known = {f.name for f in fields(ApiProfile)}
    if not isinstance(raw, dict) or not set(raw) <= known:
        raise CassetteError(f"{where}: metadata.syncbench.profile is not an API profile")
    try:
        return ApiProfile(**raw)
    except TypeError as error:
        raise CassetteError(f"{where}: metadata.syncbench.profile: {error}") from None


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


def load_cassette(path: Path) -> Recording:
    """Read and check a cassette; every problem is one line naming the file (and the interaction)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CassetteError(f"{path}: no such cassette") from None
    except IsADirectoryError:
        raise CassetteError(f"{path}: is a folder, not a cassette") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CassetteError(f"{path}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise CassetteError(f"{path}: not a JSON cassette ({error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("interactions"), list):
        raise CassetteError(f"{path}: not a cassette (no `interactions` list)")
    if not raw["interactions"]:
        raise CassetteError(f"{path}: the cassette holds no interactions")
    meta = raw.get("metadata", {}).get("syncbench") if isinstance(raw.get("metadata"), dict) else None
    if not isinstance(meta, dict):
        raise CassetteError(f"{path}: no metadata.syncbench (record it with `syncbench record`)")
    if meta.get("format") != FORMAT:
        raise CassetteError(f"{path}: cassette format {meta.get('format')!r}, this syncbench reads {FORMAT}")
    profile = profile_from(meta.get("profile"), str(path))
    prefix = str(meta.get("base_path", "")).rstrip("/")
    secret = {*SECRET_PARAMS, profile.auth_param}
    interactions = [
        _interaction(item, prefix, secret, f"{path}: interaction {i}") for i, item in enumerate(raw["interactions"])
    ]
    return Recording(path, interactions, profile, meta)


def _interaction(item: Any, prefix: str, secret: set[str], where: str) -> Interaction:
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
        raise CassetteError(f"{where}: latency_s must be a non-negative number")
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
    return [{ours.get(k, k): v for k, v in r.items()} for r in records if isinstance(r, dict)]
