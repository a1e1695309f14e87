"""bench.secrets: tokens come from the environment, never appear in an error, and every written form of
them is scrubbed from what is kept; a token that cannot be scrubbed safely is refused."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import httpx
import pytest

from bench.errors import HarnessError
from bench.secrets import (
    MIN_TOKEN,
    REDACTED,
    Scrubber,
    Secret,
    check_token,
    read_token,
    redact_errors,
    scrub,
    secret_params,
)

TOKEN = 's3cr3t+/= "tok"&'
CANARY = "sk_AbC/dEf+GhI=canary"
HOSTILE = 'sk é/😀 "q\\t+%=&?#'


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def written_forms(token: str) -> dict[str, str]:
    """Every whole spelling of `token` a file or stream could hold, by name (written out independently
    of bench.secrets, so a form it forgets fails here)."""
    data = token.encode()
    forms = {"raw": token, "httpx": str(httpx.URL("http://x/", params={"t": token})).split("t=", 1)[1]}
    for safe in ("", "/"):
        forms[f"quote safe={safe!r}"] = quote(token, safe=safe)
        forms[f"quote_plus safe={safe!r}"] = quote_plus(token, safe=safe)
    forms |= {f"{name} lower-case": _lower_hex(form) for name, form in list(forms.items()) if "%" in form}
    for ascii_only in (True, False):
        escaped = json.dumps(token, ensure_ascii=ascii_only)[1:-1]
        forms[f"json ascii={ascii_only}"] = escaped
        forms[f"json ascii={ascii_only} \\/"] = escaped.replace("/", "\\/")
    units = token.encode("utf-16-be")
    every = [f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2)]
    forms["json all \\u"] = "".join(every)
    forms["json all \\U"] = "".join(u.upper().replace("\\U", "\\u") for u in every)
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        whole = encode(data).decode()
        forms[name] = whole
        forms[f"{name} unpadded"] = whole.rstrip("=")
        forms[f"{name} url-encoded"] = quote(whole, safe="")
    return forms


def embedded_base64(token: str) -> dict[str, str]:
    """The token's bytes inside longer base64 text at each byte alignment, by name."""
    data = token.encode()
    out = {}
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for offset in range(3):
            out[f"{name} at offset {offset}"] = encode(b"xyz"[:offset] + data + b"tail!").decode()
    return out


def stable_middles(token: str) -> set[str]:
    """The part of the token's base64 that stays the same inside any longer base64 text, at each alignment."""
    data = token.encode()
    out = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            text = encode(bytes(offset) + data).decode()
            out.add(text[(8 * offset + 5) // 6 : 8 * (offset + len(data)) // 6])
    return out


def leaked(token: str, text: str) -> list[str]:
    """The names of the forms of `token` that are in `text`."""
    whole = [name for name, form in written_forms(token).items() if form in text]
    return whole + [f"base64 middle {m}" for m in stable_middles(token) if m in text]


@pytest.mark.parametrize("token", [CANARY, TOKEN, HOSTILE])
def test_every_written_form_of_the_token_is_scrubbed(token: str) -> None:
    secret = Secret(token)
    for name, form in written_forms(token).items():
        assert secret.redact(f"<{form}>") == f"<{REDACTED}>", name
    for name, text in embedded_base64(token).items():
        cleaned = secret.redact(text)
        assert REDACTED in cleaned and not leaked(token, cleaned), name


def test_scrub_removes_the_url_encoded_token_from_an_error_that_quotes_a_next_link() -> None:
    link = f"/v1/a/conversations?limit=5&cursor=Wy0x&access_token={quote(CANARY, safe='')}"
    [row] = scrub([{"error": f"GET {link}: gave up after 2 attempts (HTTP 503)"}], CANARY)
    assert (
        row["error"]
        == f"GET /v1/a/conversations?limit=5&cursor=Wy0x&access_token={REDACTED}: gave up after 2 attempts (HTTP 503)"
    )


def test_scrub_replaces_the_secret_in_nested_rows_keys_included() -> None:
    secret = "s3cr3t-key"
    rows = [
        {
            "error": f"GET /x?api_key={secret} failed",
            "missed": [{"id": 1, "reason": f"{secret} in the link"}],
            "calls_by_endpoint": {secret: 2},
            "t": (secret, 3.5),
            "n": 1,
            "none": None,
        }
    ]
    [row] = scrub(rows, secret)
    assert secret not in json.dumps(row)
    assert row["error"] == f"GET /x?api_key={REDACTED} failed"
    assert row["missed"] == [{"id": 1, "reason": f"{REDACTED} in the link"}]
    assert row["calls_by_endpoint"] == {REDACTED: 2}
    assert row["t"] == (REDACTED, 3.5)  # a tuple stays a tuple
    assert (row["n"], row["none"]) == (1, None)
    assert rows[0]["error"] == f"GET /x?api_key={secret} failed"  # the input is left as it was


@pytest.mark.parametrize("secret", [None, ""])
def test_scrub_without_a_secret_returns_the_rows_themselves(secret: str | None) -> None:
    rows = [{"error": "anything"}]
    assert scrub(rows, secret) is rows


def test_the_scrubber_removes_every_form_and_its_check_finds_a_base64_copy() -> None:
    scrubber = Scrubber(TOKEN, secret_params("access_token"))
    for form in written_forms(TOKEN).values():
        assert scrubber.text(f"<{form}>") == f"<{REDACTED}>"
    with pytest.raises(HarnessError, match="still in the cassette"):
        scrubber.check(f"x {TOKEN} y", "cassette")
    with pytest.raises(HarnessError, match="still in the cassette"):
        scrubber.check(json.dumps({"echo": base64.b64encode(b"ab" + TOKEN.encode()).decode()}), "cassette")


def test_a_link_loses_its_credential_parameters() -> None:
    scrubber = Scrubber(TOKEN, secret_params("sig"))
    assert scrubber.link("/v1/a?limit=5&sig=abc&access_token=xyz") == "/v1/a?limit=5"


def test_a_link_header_keeps_its_brackets_and_relation() -> None:
    scrubber = Scrubber(CANARY, secret_params("access_token"))
    link = f"http://h:1/v1/conversations?limit=5&access_token={quote(CANARY, safe='')}"
    header = f'<{link}>; rel="self", <http://h:1/v1/conversations?cursor=x>; rel="next"'
    response = {"headers": {"Link": [header]}, "body": {"string": b""}, "status": {"code": 200}}
    [cleaned] = scrubber.response(response)["headers"]["Link"]
    assert (
        cleaned
        == '<http://h:1/v1/conversations?limit=5>; rel="self", <http://h:1/v1/conversations?cursor=x>; rel="next"'
    )


def test_secret_params_add_the_apis_own_parameter_once() -> None:
    assert secret_params("sig") == ("access_token", "key", "sig", "token")
    assert secret_params("access_token") == ("access_token", "key", "token")


def test_read_token_names_the_variable_never_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCBENCH_TEST_TOKEN", f"  {TOKEN}\n")
    assert read_token("SYNCBENCH_TEST_TOKEN") == TOKEN
    assert read_token(None) is None
    monkeypatch.setenv("SYNCBENCH_TEST_TOKEN", "   ")
    with pytest.raises(HarnessError) as caught:
        read_token("SYNCBENCH_TEST_TOKEN")
    assert str(caught.value) == "--token-env SYNCBENCH_TEST_TOKEN: the environment variable is not set or empty"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("x" * (MIN_TOKEN - 1), f"shorter than {MIN_TOKEN} characters"),
        ("ok", "shorter than"),
        ("e", "shorter than"),
        ("2026-03-02", "time-stamp characters"),
        ("2026-03-02 10:00:00.5", "time-stamp characters"),
        ("conversations", "occurs in the names or data"),
        ("conversationId", "occurs in the names or data"),
        ("tok\nen-value", "unprintable characters"),
    ],
)
def test_check_token_refuses_a_token_it_cannot_scrub_safely(token: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message) as caught:
        check_token(token, ["/v1/accounts/{account}/conversations", '{"conversationId": 1}'])
    assert len(token) < MIN_TOKEN or token not in str(caught.value)  # the reason, never the value


def test_check_token_refuses_a_non_ascii_token_for_a_header_only() -> None:
    assert check_token("tökén-válue", in_header=False) is not None
    with pytest.raises(HarnessError, match="non-ASCII"):
        check_token("tökén-válue", in_header=True)


def test_a_checked_token_is_scrubbed_from_every_error_line() -> None:
    check_token(None)
    token = "err-line-tok/+="
    check_token(token)
    line = f"GET /x?access_token={quote(token, safe='')}: failed; echo {base64.b64encode(token.encode()).decode()}"
    assert redact_errors(line) == f"GET /x?access_token={REDACTED}: failed; echo {REDACTED}"


def test_a_debug_traceback_is_scrubbed_like_the_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--debug prints a traceback; a checked token in it, in any form, reaches stderr as [redacted] only."""
    from bench.cli import application

    token = "dbg-trace-tok/+="
    check_token(token)
    monkeypatch.setattr(application, "_debug", True)
    try:
        raise RuntimeError(f"GET /x?access_token={quote(token, safe='')} failed")
    except RuntimeError:
        application._traceback_if_debug()
    err = capsys.readouterr().err
    assert "Traceback" in err and REDACTED in err
    assert token not in err and quote(token, safe="") not in err
