"""Credentials out of a recording before anything is kept: headers, query parameters, links, bodies.

vcrpy's own filters drop the `Authorization` and cookie headers and the credential
query parameters of each request; this adds what they cannot reach: the token in a
response (a `Set-Cookie`, a next link that echoes `access_token`, the value quoted
anywhere in a body) and in any other header or URL. Links lose the credential
parameter altogether, as the recorded requests do, so a replay that follows a
recorded link asks for a recorded request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from bench.errors import HarnessError

__all__ = ["REDACTED", "REQUEST_HEADERS", "Scrubber"]

REDACTED = "[redacted]"
#: request headers dropped outright (vcrpy's filter_headers)
REQUEST_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key")
#: response headers dropped outright
_RESPONSE_HEADERS = {"set-cookie", "set-cookie2", "www-authenticate"}
#: response headers holding URLs whose query may echo a credential
_LINK_HEADERS = {"link", "location", "content-location"}


class Scrubber:
    """Removes one token (if any) and the credential query parameters from vcrpy's records."""

    def __init__(self, token: str | None, params: Iterable[str]) -> None:
        self.params = {p.lower() for p in params}
        forms = {token, quote(token, safe=""), quote_plus(token), json.dumps(token)[1:-1]} if token else set()
        self.forms = sorted((f for f in forms if f), key=len, reverse=True)  # longest first: no partial leftovers

    def text(self, value: str) -> str:
        for form in self.forms:
            value = value.replace(form, REDACTED)
        return value

    def link(self, value: str) -> str:
        """A URL (absolute or relative) without credential parameters or userinfo; other text unchanged."""
        if "?" not in value and "@" not in value:
            return self.text(value)
        try:
            parts = urlsplit(value)
        except ValueError:
            return self.text(value)
        query = parse_qsl(parts.query, keep_blank_values=True)
        kept = [(k, v) for k, v in query if k.lower() not in self.params]
        netloc = parts.netloc.rsplit("@", 1)[-1]
        if len(kept) != len(query) or netloc != parts.netloc:
            value = urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), parts.fragment))
        return self.text(value)

    def request(self, request: Any) -> Any:
        """vcrpy's before_record_request: the URI, the remaining headers and the body."""
        request.uri = self.link(request.uri)
        request.headers = {k: self.text(str(v)) for k, v in request.headers.items()}
        if isinstance(request.body, bytes) and self.forms:
            request.body = self.text(request.body.decode("utf-8", "replace")).encode()
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """vcrpy's before_record_response: headers, then links and the token inside the body."""
        headers: dict[str, list[str]] = {}
        for name, values in response["headers"].items():
            low = name.lower()
            if low in _RESPONSE_HEADERS:
                continue
            clean = self.link if low in _LINK_HEADERS else self.text
            headers[name] = [clean(str(v)) for v in values]
        if any(name.lower() == "content-encoding" for name in headers):
            raise HarnessError("a response came back compressed in a way the recorder cannot read; cannot scrub it")
        body = response["body"]["string"]
        if isinstance(body, bytes) and body:
            scrubbed = self._body(body)
            if scrubbed != body:
                body = scrubbed
                for name in headers:
                    if name.lower() == "content-length":
                        headers[name] = [str(len(body))]
        return {**response, "headers": headers, "body": {**response["body"], "string": body}}

    def _body(self, body: bytes) -> bytes:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise HarnessError("a response body is not UTF-8 text; cannot scrub it") from None
        try:
            document = json.loads(text)
        except ValueError:
            return self.text(text).encode()
        cleaned = self._walk(document)
        if cleaned != document:
            text = json.dumps(cleaned, ensure_ascii=False)
        return self.text(text).encode()

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.link(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        return value

    def check(self, text: str, what: str) -> None:
        """Refuse to write `text` if any form of the token is still in it (a last line of defence)."""
        if any(form in text for form in self.forms):
            raise HarnessError(f"the token is still in the {what} after scrubbing; nothing was written")
