"""Secrets: where a token comes from, and keeping it out of everything syncbench writes.

A token is read from a named environment variable (never from the command line, where
other users of the machine could see it) and is never quoted in an error. What a run
keeps is scrubbed of it: `scrub` replaces it inside result rows (they may quote URLs),
and the `Scrubber` cleans a recording before anything is kept. vcrpy's own filters drop
the `Authorization` and cookie headers and the credential query parameters of each
request; the Scrubber adds what they cannot reach: the token in a response (a
`Set-Cookie`, a next link that echoes `access_token`, the value quoted anywhere in a
body) and in any other header or URL. Links lose the credential parameter altogether,
as the recorded requests do, so a replay that follows a recorded link asks for a
recorded request. Each written form of a token (as is, URL-encoded, form-encoded,
JSON-escaped) is one function in `FORMS`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from bench.errors import HarnessError

__all__ = [
    "FORMS",
    "MIN_TOKEN",
    "REDACTED",
    "REQUEST_HEADERS",
    "SECRET_PARAMS",
    "Scrubber",
    "check_token",
    "read_token",
    "redact",
    "scrub",
    "secret_params",
]

REDACTED = "[redacted]"
#: a shorter token could be any short string of the data, and scrubbing it would mangle the records
MIN_TOKEN = 6
#: query parameters that carry credentials: dropped from every recorded URL and link
SECRET_PARAMS = ("access_token", "token", "key")
#: request headers dropped outright (vcrpy's filter_headers)
REQUEST_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key")
#: response headers dropped outright
_RESPONSE_HEADERS = {"set-cookie", "set-cookie2", "www-authenticate"}
#: response headers holding URLs whose query may echo a credential
_LINK_HEADERS = {"link", "location", "content-location"}


def read_token(variable: str | None) -> str | None:
    """The token from the named environment variable; errors name the variable, never a value."""
    if variable is None:
        return None
    value = os.environ.get(variable, "").strip()
    if not value:
        raise HarnessError(f"--token-env {variable}: the environment variable is not set or empty")
    return value


def check_token(token: str | None) -> None:
    """Refuse a token too short to scrub safely."""
    if token is not None and len(token) < MIN_TOKEN:
        raise HarnessError(f"the token is shorter than {MIN_TOKEN} characters: scrubbing it would mangle the data")


def secret_params(auth_param: str) -> tuple[str, ...]:
    """The query parameters that carry credentials for an API that takes its token in `auth_param`."""
    return tuple(sorted({*SECRET_PARAMS, auth_param}))


def as_is(token: str) -> str:
    return token


def url_encoded(token: str) -> str:
    """As a URL path or query carries it (`%2B` for `+`)."""
    return quote(token, safe="")


def form_encoded(token: str) -> str:
    """As a form body or a query built by `urlencode` carries it (`+` for a space)."""
    return quote_plus(token)


def json_escaped(token: str) -> str:
    """As a JSON string holds it (a backslash before `"` and `\\`)."""
    return json.dumps(token)[1:-1]


#: every form a token is looked for in, one function each
FORMS: tuple[Callable[[str], str], ...] = (as_is, url_encoded, form_encoded, json_escaped)


def redact(text: str, forms: Sequence[str]) -> str:
    """`text` with each of `forms` replaced by REDACTED, in the order given."""
    for form in forms:
        text = text.replace(form, REDACTED)
    return text


def scrub(value: Any, secret: str | None) -> Any:
    """`value` with every occurrence of `secret` (as is) in its strings replaced: rows may quote URLs."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, (secret,))
    if isinstance(value, dict):
        return {scrub(k, secret): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, secret) for v in value)
    return value


class Scrubber:
    """Removes one token (if any) and the credential query parameters from vcrpy's records."""

    def __init__(self, token: str | None, params: Iterable[str]) -> None:
        self.params = {p.lower() for p in params}
        forms = {form(token) for form in FORMS} - {""} if token else set()
        self.forms = sorted(forms, key=lambda f: (-len(f), f))  # longest first: no partial leftovers

    def text(self, value: str) -> str:
        return redact(value, self.forms)

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
