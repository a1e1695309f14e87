"""An API that leaks the token every way a real one can, for the secret tests.

The simulated core behind a plain HTTP server: it keeps the token in its next links (as
some social APIs' `paging.next` links do, URL-encoded), in a `Link` header, a cookie and
a header of its own, and quotes it in the body as is, JSON-escaped (`\\uXXXX`), in base64
and base64url, and inside a longer base64 string at each byte alignment. With `fail_next`
every request on a next link answers 503, so the error names the link that echoes the
token; with `in_records` the token is a field of every record (data that cannot be scrubbed).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from bench.api.base import SimRequest
from bench.api.core import SimulatedAPI
from bench.scenario.model import Scenario

__all__ = ["CURSOR_PROFILE", "ECHO_SCENARIO", "ECHO_TOML", "echoing_api"]

#: a small world the echoing API serves: cursor paging, a few pages per account, no rate limit, little latency
ECHO_TOML = """
name = "echo"
seed = 5

[dataset]
accounts = 1
conversations = 8
orphans = 0
messages = [1, 2]
history_days = 30

[activity]
cutoff_ago_s = 86400
active = 2
during_sync = 0

[dialect]
pagination = "cursor"
page_size = 5
max_page_size = 5

[rate_limit]
algorithm = "none"

[latency]
jitter_sigma = 0
connect_s = 0.0

[latency.endpoints]
accounts = { base_s = 0.001 }
reservations = { base_s = 0.001 }
conversations = { base_s = 0.001 }
reservation_conversations = { base_s = 0.001 }
messages = { base_s = 0.001 }
"""
ECHO_SCENARIO: dict[str, Any] = tomllib.loads(ECHO_TOML)
#: the profile a client of the echoing API needs (add `auth = "query"` for a query-parameter token)
CURSOR_PROFILE = 'pagination = "cursor"\npage_size = 5\n'


def _echoes(token: str) -> dict[str, str]:
    data = token.encode()
    aligned = {f"inside{k}": base64.b64encode(b"xy"[:k] + data + b"tail").decode() for k in range(3)}
    return {
        "seen": f"token {token}",
        "b64": base64.b64encode(data).decode(),
        "b64url": base64.urlsafe_b64encode(data).decode().rstrip("="),
        **aligned,
    }


class _Echoing(BaseHTTPRequestHandler):
    api: SimulatedAPI
    lock: threading.Lock
    began: float
    fail_next: bool
    in_records: bool

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        token = query.pop("access_token", None) or headers.get("authorization", "").removeprefix("Bearer ")
        if self.fail_next and "cursor" in query:
            self._send(503, [], {"status": "fail", "message": f"cannot serve {self.path}"}, token)
            return
        with self.lock:
            sim = self.api.handle(SimRequest("GET", parts.path, query, headers), time.monotonic() - self.began)
        body = json.loads(sim.body)
        if isinstance(body.get("paging"), dict) and body["paging"].get("next"):
            body["paging"]["next"] += f"&access_token={quote(token, safe='')}"
        if self.in_records:
            body["result"] = [{**r, "note": f"owner {token}"} if isinstance(r, dict) else r for r in body["result"]]
        body["echo"] = _echoes(token)
        self._send(sim.status, list(sim.headers), body, token)

    def _send(self, status: int, headers: list[tuple[str, str]], body: dict[str, Any], token: str) -> None:
        data = json.dumps(body).encode()  # ensure_ascii: a non-ASCII token travels as \uXXXX escapes
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        link = f"http://{self.headers.get('host')}{urlsplit(self.path).path}?access_token={quote(token, safe='')}"
        self.send_header("Link", f'<{link}>; rel="self"')
        self.send_header("Set-Cookie", f"session={quote(token)}; HttpOnly")
        self.send_header("X-Echo", quote(token, safe="/"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def echoing_api(*, fail_next: bool = False, in_records: bool = False) -> Iterator[str]:
    """Serve the echoing API on a free loopback port; yields its base URL."""
    from bench.world.dataset import generate

    attrs = {
        "api": SimulatedAPI(generate(Scenario.model_validate(ECHO_SCENARIO))),
        "lock": threading.Lock(),
        "began": time.monotonic(),
        "fail_next": fail_next,
        "in_records": in_records,
    }
    handler = type("Echoing", (_Echoing,), attrs)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
