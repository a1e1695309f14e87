"""Retry of throttled and failed requests: a pure backoff formula and a policy that reads responses.

Shaped like stamina's model (keyword-only settings `attempts`, `timeout`, `wait_initial`,
`wait_max`, `wait_jitter`, `wait_exp_base`; a hook that may supply the wait itself, as
`Retry-After` does), but it only computes the wait: the driver sleeps through the clock,
so virtual time stays deterministic.

The wait before retry n is `min(wait_max, wait_initial * wait_exp_base**(n-1) + U(0,
wait_jitter))`: jitter never pushes it past `wait_max`. A wait the server tells is kept
(never shortened), with jitter added while that stays inside `wait_max`. Two budgets
bound a request, whichever runs out first: `attempts` in all, and `timeout` seconds from
the first attempt's start (a retry whose wait would end past it is not made). Retried:
throttling, HTTP 500/502/503/504, transport errors, and a 200 whose body is not JSON
(GETs are idempotent, so a cut answer is asked again). When a retry is throttled again
with no wait told, the drivers hold every worker for its backoff (strategies/drivers.py).

Throttling is recognised in every common dialect: HTTP 429 (with `Retry-After` in
seconds or as a date, `X-RateLimit-*`, the IETF `RateLimit` fields, or nothing), and
the social-API style of HTTP 400/403 with a rate-limit error code in the body and
an `X-App-Usage` header of quota percentages. Nothing here reads the wall clock:
dates are measured against the response's own `Date` header.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = ["RetryPolicy", "backoff", "decoded", "is_throttled", "quota_nearly_spent", "retry_after_s", "retryable"]

RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
#: Graph-API style error codes meaning "rate limited": application, user, page, custom limit
THROTTLE_ERROR_CODES = frozenset({4, 17, 32, 613})
#: headers carrying quota use as percentages ({"call_count": 42, "total_time": 10, ...})
USAGE_HEADERS = ("x-app-usage", "x-page-usage")
#: an X-RateLimit-Reset larger than this is an epoch timestamp, not a number of seconds
_EPOCH_THRESHOLD = 1e9

_SECONDS = re.compile(r"\d+(?:\.\d+)?")
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")
_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*"?(-?\d+(?:\.\d+)?)"?')


def backoff(attempt: int, *, wait_initial: float, wait_max: float, wait_exp_base: float, jitter: float) -> float:
    """Wait before retry number `attempt` (1-based): initial * base**(attempt-1) plus jitter, capped at wait_max."""
    return min(wait_max, wait_initial * wait_exp_base ** (attempt - 1) + jitter)


# -- parsing helpers ---------------------------------------------------------------


def _number(value: str | None) -> float | None:
    """The leading number of a header value ("30", "1.5", "100, 100;w=60"), or None."""
    if value is None:
        return None
    match = _NUMBER.match(value)
    if match is None:
        return None
    number = float(match.group(1))
    return number if math.isfinite(number) else None


_MALFORMED = object()
_DECODED = "syncbench.json"


def decoded(response: httpx.Response) -> Any:
    """The response's JSON body, parsed once (the retry check and the strategy both read it);
    raises ValueError when the body is not JSON."""
    body = response.extensions.get(_DECODED)
    if body is None:
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            body = _MALFORMED
        response.extensions[_DECODED] = body
    if body is _MALFORMED:
        raise ValueError("malformed JSON")
    return body


def _malformed(response: httpx.Response) -> bool:
    try:
        decoded(response)
    except ValueError:
        return True
    return False


def _usage_percents(response: httpx.Response) -> list[float]:
    """Every numeric percentage in the usage headers (`X-App-Usage`, `X-Page-Usage`)."""
    percents: list[float] = []
    for name in USAGE_HEADERS:
        raw = response.headers.get(name)
        if raw is None:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        if isinstance(usage, dict):
            percents.extend(float(v) for v in usage.values() if isinstance(v, int | float) and not isinstance(v, bool))
    return percents


def _ietf_fields(response: httpx.Response) -> dict[str, float]:
    """limit, remaining and reset from the IETF draft headers, whichever revision the server speaks.

    `RateLimit: limit=100, remaining=5, reset=30` (draft 7), `RateLimit: "default";r=5;t=30`
    with `RateLimit-Policy: "default";q=100;w=60` (draft 8 and later), or the separate
    `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` fields (drafts up to 6).
    """
    fields: dict[str, float] = {}
    combined = response.headers.get("ratelimit")
    if combined is not None:
        params = {k.lower(): float(v) for k, v in _PARAM.findall(combined)}
        for name, short in (("limit", "q"), ("remaining", "r"), ("reset", "t")):
            value = params.get(name, params.get(short))
            if value is not None:
                fields[name] = value
    for name in ("limit", "remaining", "reset"):
        if name not in fields:
            value = _number(response.headers.get(f"ratelimit-{name}"))
            if value is not None:
                fields[name] = value
    if "limit" not in fields:
        policy = response.headers.get("ratelimit-policy")
        if policy is not None:
            first = policy.split(",")[0]
            quota = {k.lower(): float(v) for k, v in _PARAM.findall(first)}.get("q")
            value = quota if quota is not None else _number(first)
            if value is not None:
                fields["limit"] = value
    return fields


def _http_date_s(value: str | None) -> float | None:
    """An HTTP date as epoch seconds (a date without a zone is GMT, as HTTP dates are), or None."""
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _date_s(response: httpx.Response) -> float | None:
    """The response's `Date` header as epoch seconds, or None."""
    return _http_date_s(response.headers.get("date"))


# -- the public reading of a response ------------------------------------------------


def is_throttled(response: httpx.Response) -> bool:
    """Whether the server said "slow down": HTTP 429, or HTTP 400/403 carrying a rate-limit
    error code (`{"error": {"code": 4}}` and kin) or a usage header at 100 % or more."""
    status = response.status_code
    if status == 429:
        return True
    if status not in (400, 403):
        return False
    try:
        body = decoded(response)  # parsed once however often a response is asked about
    except (httpx.ResponseNotRead, ValueError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        if isinstance(code, str) and code.strip().isdigit():
            code = int(code)
        if isinstance(code, int) and not isinstance(code, bool) and code in THROTTLE_ERROR_CODES:
            return True
    return any(p >= 100 for p in _usage_percents(response))


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds the server asks us to wait, or None when it does not say (back off instead).

    In order: `Retry-After` (seconds, or an HTTP date measured from the response's own
    `Date`, so a skewed client clock does not matter); `X-RateLimit-Reset` (seconds, or
    an epoch timestamp when larger than 10^9, measured from `Date`); the IETF `reset`.
    """
    value = response.headers.get("retry-after")
    if value is not None:
        value = value.strip()
        if _SECONDS.fullmatch(value):
            return float(value)
        when = _http_date_s(value)
        now = _date_s(response)
        if when is not None and now is not None:
            return max(0.0, when - now)
    reset = _number(response.headers.get("x-ratelimit-reset"))
    if reset is not None:
        if reset <= _EPOCH_THRESHOLD:
            return max(0.0, reset)
        now = _date_s(response)
        if now is not None:
            return max(0.0, reset - now)
    ietf_reset = _ietf_fields(response).get("reset")
    if ietf_reset is not None:
        return max(0.0, ietf_reset)
    return None


def retryable(response: httpx.Response | None) -> bool:
    """Whether asking again may help: no answer at all, throttling, a retryable server error,
    or a 200 whose body is not JSON."""
    if response is None:
        return True
    status = response.status_code
    return status in RETRYABLE_STATUS or is_throttled(response) or (status == 200 and _malformed(response))


def quota_nearly_spent(response: httpx.Response, threshold: float = 0.9) -> bool:
    """Whether the response shows at least `threshold` of the quota used (or is itself throttling).

    Reads `X-RateLimit-Remaining` / `X-RateLimit-Limit`, the IETF `RateLimit` fields, or
    the usage headers' percentages; False when the response says nothing about the quota.
    """
    if is_throttled(response):
        return True
    limit = _number(response.headers.get("x-ratelimit-limit"))
    remaining = _number(response.headers.get("x-ratelimit-remaining"))
    if limit is None or remaining is None:
        ietf = _ietf_fields(response)
        limit, remaining = ietf.get("limit"), ietf.get("remaining")
    if limit is not None and remaining is not None and limit > 0:
        return (limit - remaining) / limit >= threshold
    percents = _usage_percents(response)
    return bool(percents) and max(percents) / 100 >= threshold


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how long a request is retried (the module docstring has the formula)."""

    attempts: int = 6
    timeout: float = 300.0  # seconds from the first attempt's start
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_exp_base: float = 2.0
    wait_jitter: float = 0.25

    def decide(self, attempt: int, response: httpx.Response | None, rng: random.Random, elapsed: float) -> float | str:
        """Seconds to wait before trying again after `attempt` (`elapsed` seconds after the first
        began), or the budget that ran out. `response` is None after a transport error; the
        caller retries only what `retryable` admits."""
        if attempt >= self.attempts:
            return f"out of attempts ({self.attempts})"
        jitter = rng.uniform(0, self.wait_jitter)
        told = retry_after_s(response) if response is not None else None
        if told is not None:
            wait = max(told, min(self.wait_max, told + jitter))
        else:
            wait = backoff(
                attempt,
                wait_initial=self.wait_initial,
                wait_max=self.wait_max,
                wait_exp_base=self.wait_exp_base,
                jitter=jitter,
            )
        if elapsed + wait > self.timeout:
            return f"out of time (retry timeout {self.timeout:g} s)"
        return wait

    def wait_for(
        self, attempt: int, response: httpx.Response | None, rng: random.Random, elapsed: float = 0.0
    ) -> float | None:
        """Seconds to wait before trying again after `attempt`, or None to stop retrying."""
        if not retryable(response):
            return None
        wait = self.decide(attempt, response, rng, elapsed)
        return None if isinstance(wait, str) else wait
