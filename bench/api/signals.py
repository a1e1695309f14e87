"""How the simulated API tells a client it is throttling, and how it shows quota usage.

One function per direction: `throttled` builds the status, headers and body of a rejected
request in the scenario's dialect (`Dialect.throttle_signal`), `usage_headers` the quota
headers of an admitted one. Both read only the limiter's `Decision`, so they are pure.
"""

from __future__ import annotations

import json
import math
from email.utils import formatdate

from bench.api.ratelimit import Decision

__all__ = ["SIGNALS", "throttled", "usage_headers"]

SIGNALS = ("retry-after", "retry-after-date", "bare", "x-ratelimit", "ietf", "usage-400", "usage-403")

_FAIL_BODY = json.dumps({"status": "fail", "message": "rate limit exceeded"}).encode()
#: the social API's "Application request limit reached" (Graph API error code 4)
_USAGE_BODY = json.dumps(
    {"error": {"code": 4, "message": "Application request limit reached", "type": "OAuthException"}}
).encode()


def _retry_s(decision: Decision) -> int:
    """Whole seconds a rejected client should wait: the reset rounded up, at least 1."""
    return max(1, int(-(-decision.reset_s // 1)))


def _reset_s(decision: Decision) -> int:
    """Whole seconds until the quota refills, rounded up (0 when it is already full)."""
    return max(0, math.ceil(decision.reset_s))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _percent(decision: Decision) -> int:
    return round(decision.used / decision.limit * 100)


def _app_usage(call_count: int) -> tuple[str, str]:
    # CPU and wall time shares are not modelled: only the call count uses up the quota here.
    return ("x-app-usage", json.dumps({"call_count": call_count, "total_cputime": 0, "total_time": 0}))


def _ietf(decision: Decision, remaining: int, reset: int) -> list[tuple[str, str]]:
    return [
        ("ratelimit", f"limit={decision.limit}, remaining={remaining}, reset={reset}"),
        ("ratelimit-policy", f"{decision.limit};w={_number(decision.window_s)}"),
    ]


def throttled(decision: Decision, signal: str, now_s: float) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, extra headers and body of a request the limiter rejected.

    `now_s` is the server clock in epoch seconds: the same instant the response's `Date`
    header shows, so a client measuring an HTTP-date `Retry-After` against `Date` gets
    the wait in whole seconds (the reset rounded up).
    """
    wait = _retry_s(decision)
    if signal == "retry-after":
        return 429, [("retry-after", str(wait))], _FAIL_BODY
    if signal == "retry-after-date":
        return 429, [("retry-after", formatdate(math.floor(now_s) + wait, usegmt=True))], _FAIL_BODY
    if signal == "bare":
        return 429, [], _FAIL_BODY
    if signal == "x-ratelimit":
        headers = [
            ("x-ratelimit-limit", str(decision.limit)),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", str(wait)),
        ]
        return 429, headers, _FAIL_BODY
    if signal == "ietf":
        return 429, _ietf(decision, 0, wait), _FAIL_BODY
    if signal in ("usage-400", "usage-403"):
        return int(signal[-3:]), [_app_usage(100)], _USAGE_BODY
    raise ValueError(f"unknown throttle signal {signal!r}")


def usage_headers(decision: Decision, signal: str) -> list[tuple[str, str]]:
    """Quota headers of an admitted response (none for signals that show no usage, or without a limit)."""
    if decision.limit <= 0:
        return []
    if signal == "x-ratelimit":
        return [
            ("x-ratelimit-limit", str(decision.limit)),
            ("x-ratelimit-remaining", str(decision.remaining)),
            ("x-ratelimit-reset", str(_reset_s(decision))),
        ]
    if signal == "ietf":
        return _ietf(decision, decision.remaining, _reset_s(decision))
    if signal in ("usage-400", "usage-403"):
        return [_app_usage(_percent(decision))]
    if signal in SIGNALS:
        return []
    raise ValueError(f"unknown throttle signal {signal!r}")
