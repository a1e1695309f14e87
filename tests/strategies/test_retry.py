"""The client reads every throttling dialect the simulator speaks (and real APIs use)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from email.utils import formatdate

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.api.ratelimit import Decision
from bench.api.signals import SIGNALS, throttled, usage_headers
from strategies.retry import RetryPolicy, is_throttled, quota_nearly_spent, retry_after_s

NOW_S = 1_772_442_000.0  # 2026-03-02T09:00:00Z, the default scenario start


def _response(status: int, headers: list[tuple[str, str]] | dict[str, str], body: bytes | dict | None = None):
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return httpx.Response(status, headers=headers, content=body or b"", request=httpx.Request("GET", "http://x/"))


def _served(status: int, extra: list[tuple[str, str]], body: bytes, now_s: float) -> httpx.Response:
    """A response as the simulated API sends it: content type and Date, then the signal's headers."""
    headers = [("content-type", "application/json"), ("date", formatdate(now_s, usegmt=True)), *extra]
    return _response(status, headers, body)


# signal, status it answers with, whether it says how long to wait
SIGNAL_TABLE = [
    pytest.param("retry-after", 429, True, id="retry-after"),
    pytest.param("retry-after-date", 429, True, id="retry-after-date"),
    pytest.param("bare", 429, False, id="bare"),
    pytest.param("x-ratelimit", 429, True, id="x-ratelimit"),
    pytest.param("ietf", 429, True, id="ietf"),
    pytest.param("usage-400", 400, False, id="usage-400"),
    pytest.param("usage-403", 403, False, id="usage-403"),
]


def test_the_table_covers_every_signal():
    assert {p.values[0] for p in SIGNAL_TABLE} == set(SIGNALS)


@pytest.mark.parametrize(("signal", "status", "tells_wait"), SIGNAL_TABLE)
@given(
    reset=st.floats(0.001, 3600, allow_nan=False),
    now_offset=st.floats(0, 86_400, allow_nan=False),
    limit=st.integers(1, 10_000),
)
@settings(max_examples=40, deadline=None)
def test_throttled_response_is_read_back_by_the_client(signal, status, tells_wait, reset, now_offset, limit):
    now_s = NOW_S + now_offset
    code, extra, body = throttled(Decision(False, limit, 0, reset, 1.0), signal, now_s)
    assert code == status
    response = _served(code, extra, body, now_s)
    assert is_throttled(response)
    assert quota_nearly_spent(response)
    wait = retry_after_s(response)
    if tells_wait:
        assert wait is not None
        assert reset <= wait <= reset + 1  # within a second, and never too early
    else:
        assert wait is None  # the policy backs off exponentially
        assert RetryPolicy().wait_for(1, response, random.Random(1)) is not None


@pytest.mark.parametrize(
    ("signal", "expected"),
    [
        pytest.param("retry-after", [("retry-after", "3")], id="retry-after"),
        pytest.param("retry-after-date", [("retry-after", "Mon, 02 Mar 2026 09:00:03 GMT")], id="retry-after-date"),
        pytest.param("bare", [], id="bare"),
        pytest.param(
            "x-ratelimit",
            [("x-ratelimit-limit", "30"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "3")],
            id="x-ratelimit",
        ),
        pytest.param(
            "ietf",
            [("ratelimit", "limit=30, remaining=0, reset=3"), ("ratelimit-policy", "30;w=10")],
            id="ietf",
        ),
        pytest.param(
            "usage-403",
            [("x-app-usage", json.dumps({"call_count": 100, "total_cputime": 0, "total_time": 0}))],
            id="usage-403",
        ),
    ],
)
def test_throttled_headers_exactly(signal, expected):
    _, headers, _ = throttled(Decision(False, 30, 0, 2.2, 10.0), signal, NOW_S)
    assert headers == expected


def test_retry_after_seconds_matches_the_shipped_simulator():
    """The default dialect answers exactly as before: 429, Retry-After = ceil(reset), at least 1."""
    for reset, expected in [(0.2, "1"), (1.0, "1"), (1.0001, "2"), (29.5, "30")]:
        code, headers, body = throttled(Decision(False, 30, 0, reset), "retry-after", NOW_S)
        assert (code, headers) == (429, [("retry-after", expected)])
        assert json.loads(body) == {"status": "fail", "message": "rate limit exceeded"}


def test_bare_and_usage_bodies():
    _, headers, body = throttled(Decision(False, 30, 0, 1.0), "bare", NOW_S)
    assert headers == [] and json.loads(body) == {"status": "fail", "message": "rate limit exceeded"}
    _, _, body = throttled(Decision(False, 30, 0, 1.0), "usage-400", NOW_S)
    assert json.loads(body) == {
        "error": {"code": 4, "message": "Application request limit reached", "type": "OAuthException"}
    }


def test_unknown_signal_is_refused():
    with pytest.raises(ValueError, match="smoke"):
        throttled(Decision(False, 1, 0, 1.0), "smoke-signal", NOW_S)
    with pytest.raises(ValueError, match="smoke"):
        usage_headers(Decision(True, 1, 0, 1.0), "smoke-signal")


# -- admitted responses: usage headers ------------------------------------------------

USAGE_TABLE = [
    pytest.param("retry-after", False, id="retry-after"),
    pytest.param("retry-after-date", False, id="retry-after-date"),
    pytest.param("bare", False, id="bare"),
    pytest.param("x-ratelimit", True, id="x-ratelimit"),
    pytest.param("ietf", True, id="ietf"),
    pytest.param("usage-400", True, id="usage-400"),
    pytest.param("usage-403", True, id="usage-403"),
]


@pytest.mark.parametrize(("signal", "shows_usage"), USAGE_TABLE)
def test_admitted_usage_headers_are_read_by_quota_nearly_spent(signal, shows_usage):
    almost = _served(200, usage_headers(Decision(True, 30, 2, 0.4, 1.0), signal), b"{}", NOW_S)
    plenty = _served(200, usage_headers(Decision(True, 30, 20, 0.4, 1.0), signal), b"{}", NOW_S)
    assert not is_throttled(almost) and not is_throttled(plenty)
    assert quota_nearly_spent(almost) is shows_usage  # 28 of 30 used: 93 %
    assert not quota_nearly_spent(plenty)  # 10 of 30 used
    assert quota_nearly_spent(plenty, threshold=0.3) is shows_usage
    assert retry_after_s(plenty) in (None, 1.0)  # a reset hint at most, never a demand to wait long


@pytest.mark.parametrize(
    ("signal", "expected"),
    [
        pytest.param(
            "x-ratelimit",
            [("x-ratelimit-limit", "20"), ("x-ratelimit-remaining", "9"), ("x-ratelimit-reset", "4")],
            id="x-ratelimit",
        ),
        pytest.param(
            "ietf", [("ratelimit", "limit=20, remaining=9, reset=4"), ("ratelimit-policy", "20;w=0.5")], id="ietf"
        ),
        pytest.param(
            "usage-400",
            [("x-app-usage", json.dumps({"call_count": 55, "total_cputime": 0, "total_time": 0}))],
            id="usage-400",
        ),
        pytest.param("retry-after-date", [], id="retry-after-date"),
    ],
)
def test_usage_headers_exactly(signal, expected):
    assert usage_headers(Decision(True, 20, 9, 3.2, 0.5), signal) == expected


def test_no_usage_headers_without_a_limit():
    assert usage_headers(Decision(True, 0, 0, 0.0), "x-ratelimit") == []


# -- what is and is not throttling ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [
        pytest.param(400, {}, {"status": "fail", "message": "limit must be an integer"}, False, id="normal-400"),
        pytest.param(403, {}, {"status": "fail", "message": "forbidden"}, False, id="normal-403"),
        pytest.param(403, {}, {"error": {"code": 190, "message": "Invalid OAuth access token"}}, False, id="auth-190"),
        pytest.param(400, {}, b"<html>bad request</html>", False, id="not-json"),
        pytest.param(400, {}, {"error": "rate limited"}, False, id="error-not-an-object"),
        pytest.param(400, {"x-app-usage": '{"call_count": 45, "total_time": 99}'}, {}, False, id="usage-below-100"),
        pytest.param(400, {"x-app-usage": "not json"}, {}, False, id="usage-garbled"),
        pytest.param(200, {"x-app-usage": '{"call_count": 100}'}, {}, False, id="ok-at-full-usage"),
        pytest.param(404, {}, {"error": {"code": 4}}, False, id="404-with-code"),
        pytest.param(400, {}, {"error": {"code": 4, "type": "OAuthException"}}, True, id="code-4"),
        pytest.param(403, {}, {"error": {"code": 17}}, True, id="code-17-user"),
        pytest.param(400, {}, {"error": {"code": 32}}, True, id="code-32-page"),
        pytest.param(403, {}, {"error": {"code": 613}}, True, id="code-613-custom"),
        pytest.param(400, {}, {"error": {"code": "4"}}, True, id="code-as-string"),
        pytest.param(403, {"x-app-usage": '{"call_count": 12, "total_time": 104}'}, {}, True, id="usage-over-100"),
        pytest.param(429, {}, None, True, id="429"),
    ],
)
def test_is_throttled(status, headers, body, expected):
    assert is_throttled(_response(status, headers, body)) is expected


def test_a_normal_400_is_not_retried():
    response = _response(400, {}, {"status": "fail", "message": "limit must be an integer"})
    assert RetryPolicy().wait_for(1, response, random.Random(1)) is None
    assert retry_after_s(response) is None
    assert not quota_nearly_spent(response)


# -- how long to wait, in the dialects of real APIs -----------------------------------

DATE = formatdate(NOW_S, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"retry-after": "7"}, 7.0, id="seconds"),
        pytest.param({"retry-after": " 2.5 "}, 2.5, id="fractional-seconds"),
        pytest.param({"retry-after": formatdate(NOW_S + 42, usegmt=True), "date": DATE}, 42.0, id="http-date"),
        pytest.param({"retry-after": formatdate(NOW_S - 5, usegmt=True), "date": DATE}, 0.0, id="date-in-the-past"),
        pytest.param({"retry-after": formatdate(NOW_S + 42, usegmt=True)}, None, id="date-without-date-header"),
        pytest.param({"retry-after": "soon"}, None, id="garbled"),
        pytest.param({"retry-after": "3", "x-ratelimit-reset": "60"}, 3.0, id="retry-after-wins"),
        pytest.param({"x-ratelimit-reset": "12"}, 12.0, id="x-ratelimit-seconds"),
        pytest.param({"x-ratelimit-reset": "0.75"}, 0.75, id="x-ratelimit-fractional"),
        pytest.param({"x-ratelimit-reset": str(int(NOW_S) + 30), "date": DATE}, 30.0, id="x-ratelimit-epoch"),
        pytest.param({"x-ratelimit-reset": str(int(NOW_S) + 30)}, None, id="x-ratelimit-epoch-without-date"),
        pytest.param({"ratelimit": "limit=10, remaining=0, reset=8"}, 8.0, id="ietf-draft-7"),
        pytest.param({"ratelimit": '"default";r=0;t=9', "ratelimit-policy": '"default";q=10;w=60'}, 9.0, id="ietf-8"),
        pytest.param({"ratelimit-limit": "10", "ratelimit-reset": "11"}, 11.0, id="ietf-draft-6"),
        pytest.param({}, None, id="nothing"),
    ],
)
def test_retry_after_s(headers, expected):
    assert retry_after_s(_response(429, headers)) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"x-ratelimit-limit": "100", "x-ratelimit-remaining": "10"}, True, id="x-ratelimit-90pct"),
        pytest.param({"x-ratelimit-limit": "100", "x-ratelimit-remaining": "11"}, False, id="x-ratelimit-89pct"),
        pytest.param({"ratelimit": "limit=10, remaining=1, reset=3"}, True, id="ietf-draft-7"),
        pytest.param({"ratelimit": '"d";r=5;t=3', "ratelimit-policy": '"d";q=10;w=1'}, False, id="ietf-8-half"),
        pytest.param({"ratelimit": '"d";r=0;t=3', "ratelimit-policy": '"d";q=10;w=1'}, True, id="ietf-8-spent"),
        pytest.param({"ratelimit-limit": "10", "ratelimit-remaining": "0"}, True, id="ietf-draft-6"),
        pytest.param({"x-app-usage": '{"call_count": 20, "total_cputime": 91, "total_time": 5}'}, True, id="app-cpu"),
        pytest.param({"x-app-usage": '{"call_count": 89}'}, False, id="app-89"),
        pytest.param({"x-ratelimit-limit": "0", "x-ratelimit-remaining": "0"}, False, id="zero-limit"),
        pytest.param({}, False, id="nothing"),
    ],
)
def test_quota_nearly_spent(headers, expected):
    assert quota_nearly_spent(_response(200, headers)) is expected


def test_retry_policy_uses_the_told_wait_then_backs_off():
    policy = RetryPolicy(wait_jitter=0.0)
    rng = random.Random(1)
    told = _response(429, {"x-ratelimit-reset": "5"})
    assert policy.wait_for(1, told, rng) == 5.0
    usage = _response(403, {}, {"error": {"code": 4}})
    assert [policy.wait_for(n, usage, rng) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert policy.wait_for(policy.attempts, usage, rng) is None


def test_strategies_do_not_import_bench():
    code = "import sys, strategies.retry; sys.exit(any(m == 'bench' or m.startswith('bench.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@given(attempt=st.integers(1, 30), jitter=st.floats(0, 100), seed=st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_jitter_never_pushes_a_backoff_past_wait_max(attempt, jitter, seed):
    policy = RetryPolicy(attempts=100, wait_max=2.0, wait_jitter=jitter)
    usage = _response(403, {}, {"error": {"code": 4}})  # throttled, no wait told
    wait = policy.wait_for(attempt, usage, random.Random(seed))
    assert wait is not None and 0 < wait <= policy.wait_max


def test_a_told_wait_is_never_shortened_and_its_jitter_stays_inside_wait_max():
    policy = RetryPolicy(wait_max=10.0, wait_jitter=5.0)
    for told in ("3", "9", "60"):
        wait = policy.wait_for(1, _response(429, {"retry-after": told}), random.Random(3))
        assert wait is not None and float(told) <= wait <= max(float(told), policy.wait_max)


def test_the_timeout_bounds_the_total_time_and_says_so():
    policy = RetryPolicy(timeout=10.0, wait_jitter=0.0)
    told = _response(429, {"retry-after": "4"})
    assert policy.decide(1, told, random.Random(1), elapsed=5.0) == 4.0
    assert policy.decide(2, told, random.Random(1), elapsed=7.0) == "out of time (retry timeout 10 s)"
    assert policy.wait_for(2, told, random.Random(1), elapsed=7.0) is None
    assert policy.decide(policy.attempts, told, random.Random(1), elapsed=0.0) == f"out of attempts ({policy.attempts})"


@pytest.mark.parametrize(
    ("status", "body", "retried"),
    [
        pytest.param(200, b'{"result": [', True, id="cut-json"),
        pytest.param(200, b"\xff\xfe", True, id="not-utf8"),
        pytest.param(200, b'{"result": []}', False, id="json"),
        pytest.param(404, b"not json", False, id="404-not-json"),
    ],
)
def test_a_200_that_is_not_json_is_retried_like_a_transient_error(status, body, retried):
    response = _response(status, {"content-type": "application/json"}, body)
    assert (RetryPolicy().wait_for(1, response, random.Random(1)) is not None) is retried
