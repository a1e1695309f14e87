"""Secrets: where a token comes from, and keeping it out of everything syncbench writes or prints.

A token is read from a named environment variable (never from the command line, where
other users of the machine could see it) and is never quoted in an error. A token is
first checked (`check_token`): one too short, or one that is part of the names and data
syncbench writes, is refused, as scrubbing it would mangle them. A `Secret` finds every
written form of a token: as is, percent-encoded (either case, `+` for a space),
JSON-escaped, in base64 or base64url (whole, or inside longer base64 text at any byte
alignment), and mixtures of these, with one pattern. What a run keeps is scrubbed of
it: `scrub` cleans result rows (they may quote URLs), `redact_errors` every error line,
and the `Scrubber` a recording before anything is kept. vcrpy's own filters drop the
`Authorization` and cookie headers and the credential query parameters of each request;
the Scrubber adds what they cannot reach: the token in a response (a `Set-Cookie`, a
next link that echoes `access_token`, the value quoted anywhere in a body) and in any
other header or URL. Links lose the credential parameter altogether, as the recorded
requests do, so a replay that follows a recorded link asks for a recorded request.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench.errors import HarnessError

__all__ = [
    "MIN_TOKEN",
    "REDACTED",
    "REQUEST_HEADERS",
    "SECRET_PARAMS",
    "Scrubber",
    "Secret",
    "base64_forms",
    "check_token",
    "read_token",
    "redact",
    "redact_errors",
    "scrub",
    "secret_params",
]

REDACTED = "[redacted]"
#: a shorter token could be any short string of the data, and scrubbing it would mangle the records
MIN_TOKEN = 8
#: query parameters that carry credentials: dropped from every recorded URL and link
SECRET_PARAMS = ("access_token", "token", "key")
#: request headers dropped outright (vcrpy's filter_headers)
REQUEST_HEADERS = ("authorization", "proxy-authorization", "cookie", "x-api-key")
#: response headers dropped outright
_RESPONSE_HEADERS = {"set-cookie", "set-cookie2", "www-authenticate"}
#: response headers holding URLs whose query may echo a credential
_LINK_HEADERS = {"location", "content-location"}
#: a token made only of these could be part of any number or time stamp (`2026-03-02 10:00:00.5`)
_STAMP = re.compile(r"[0-9 :.TZ+-]*")
#: the URLs of a `Link` header (`<URL>; rel="next"`)
_LINK_URL = re.compile(r"<([^<>]*)>")
#: JSON's short escapes
_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: tokens in use in this process (they passed `check_token`): every error line is scrubbed of them
_GUARDED: dict[str, Secret] = {}


def read_token(variable: str | None) -> str | None:
    """The token from the named environment variable; errors name the variable, never a value."""
    if variable is None:
        return None
    value = os.environ.get(variable, "").strip()
    if not value:
        raise HarnessError(f"--token-env {variable}: the environment variable is not set or empty")
    return value


def check_token(token: str | None, words: Iterable[str] = (), *, in_header: bool = False) -> Secret | None:
    """Refuse a token that cannot be sent, or scrubbed without mangling what syncbench writes: one too
    short, one that could be part of a number or time stamp, or one inside `words` (route, field and
    status names, or a served world's records). A token that passes is scrubbed from every error line."""
    if token is None:
        return None
    if len(token) < MIN_TOKEN:
        raise HarnessError(f"the token is shorter than {MIN_TOKEN} characters: scrubbing it would mangle the data")
    if not token.isprintable():
        raise HarnessError("the token holds unprintable characters: it cannot be sent or scrubbed safely")
    if in_header and not token.isascii():
        raise HarnessError("the token holds non-ASCII characters, which an Authorization header cannot carry")
    if _STAMP.fullmatch(token):
        raise HarnessError("the token is only digits and time-stamp characters: scrubbing it would mangle the data")
    if any(token in word for word in words):
        raise HarnessError("the token occurs in the names or data syncbench writes: scrubbing it would mangle them")
    secret = _GUARDED[token] = _secret(token)  # remembered: `redact_errors` scrubs it from any error line
    return secret


def redact_errors(text: str) -> str:
    """An error line scrubbed of every token in use (the error policy prints only this)."""
    for secret in _GUARDED.values():
        text = secret.redact(text)
    return text


def secret_params(auth_param: str) -> tuple[str, ...]:
    """The query parameters that carry credentials for an API that takes its token in `auth_param`."""
    return tuple(sorted({*SECRET_PARAMS, auth_param}))


def base64_forms(token: str) -> set[str]:
    """The token's bytes in base64 and base64url: whole (padded or not), and the part that stays the
    same inside any longer base64 text, at each of the three byte alignments."""
    data = token.encode()
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode()
        forms |= {whole, whole.rstrip("=")}
        for offset in range(3):
            text = encode(bytes(offset) + data).decode()
            forms.add(text[-(-8 * offset // 6) : 8 * (offset + len(data)) // 6])
    return forms - {""}


def _spellings(char: str) -> list[str]:
    """Each way `char` can be written in a URL or a JSON string, as regex alternatives."""
    hexed = "".join(f"%{b:02x}" for b in char.encode())
    units = char.encode("utf-16-be")
    escaped = "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
    ways = [re.escape(char), f"(?i:{re.escape(hexed)})", f"(?i:{re.escape(escaped)})"]
    if char in _JSON_SHORT:
        ways.append(re.escape(_JSON_SHORT[char]))
    if char == " ":
        ways.append(re.escape("+"))
    return ways


def _pattern(text: str) -> str:
    return "".join(f"(?:{'|'.join(_spellings(c))})" for c in text)


class Secret:
    """One token and every written form of it (raw; percent-encoded in either case, `+` for a space;
    JSON-escaped, `\\/` and `\\uXXXX` included; base64 and base64url), found by one pattern."""

    def __init__(self, token: str) -> None:
        literals = sorted({token} | base64_forms(token), key=lambda f: (-len(f), f))  # longest first
        self.pattern = re.compile("|".join(_pattern(f) for f in literals))

    def redact(self, text: str) -> str:
        return self.pattern.sub(REDACTED, text)

    def found(self, text: str) -> bool:
        return self.pattern.search(text) is not None


@functools.lru_cache(maxsize=16)
def _secret(token: str) -> Secret:
    return Secret(token)


def redact(text: str, secret: Secret | None) -> str:
    """`text` with every form of the token replaced by REDACTED."""
    return secret.redact(text) if secret is not None else text


def scrub(value: Any, secret: str | None) -> Any:
    """`value` with every form of `secret` in its strings replaced: rows may quote URLs."""
    if not secret:
        return value
    found = _secret(secret)
    if isinstance(value, str):
        return found.redact(value)
    if isinstance(value, dict):
        return {scrub(k, secret): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, secret) for v in value)
    return value


class Scrubber:
    """Removes one token (if any) and the credential query parameters from vcrpy's records."""

    def __init__(self, token: str | None, params: Iterable[str]) -> None:
        self.params = {p.lower() for p in params}
        self.secret = _secret(token) if token else None

    def text(self, value: str) -> str:
        return redact(value, self.secret)

    def links(self, value: str) -> str:
        """A `Link` header: each `<URL>` cleaned as a link, the rest (`; rel="next"`) kept as it is."""
        return self.text(_LINK_URL.sub(lambda m: f"<{self.link(m.group(1))}>", value))

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
        if isinstance(request.body, bytes) and self.secret is not None:
            request.body = self.text(request.body.decode("utf-8", "replace")).encode()
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        """vcrpy's before_record_response: headers, then links and the token inside the body."""
        headers: dict[str, list[str]] = {}
        for name, values in response["headers"].items():
            low = name.lower()
            if low in _RESPONSE_HEADERS:
                continue
            clean = self.links if low == "link" else self.link if low in _LINK_HEADERS else self.text
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
        if self.secret is not None and self.secret.found(text):
            raise HarnessError(f"the token is still in the {what} after scrubbing; nothing was written")
