"""bench.secrets: tokens come from the environment, never appear in an error, and are scrubbed from what is kept."""

from __future__ import annotations

import json

import pytest

from bench.errors import HarnessError
from bench.secrets import FORMS, MIN_TOKEN, REDACTED, Scrubber, check_token, read_token, scrub, secret_params

TOKEN = 's3cr3t+/= "tok"&'


def test_scrub_replaces_the_secret_in_nested_rows_keys_included() -> None:
    rows = [
        {
            "error": "GET /x?api_key=s3cr3t failed",
            "missed": [{"id": 1, "reason": "s3cr3t in the link"}],
            "calls_by_endpoint": {"s3cr3t": 2},
            "t": ("s3cr3t", 3.5),
            "n": 1,
            "none": None,
        }
    ]
    [row] = scrub(rows, "s3cr3t")
    assert "s3cr3t" not in json.dumps(row)
    assert row["error"] == f"GET /x?api_key={REDACTED} failed"
    assert row["missed"] == [{"id": 1, "reason": f"{REDACTED} in the link"}]
    assert row["calls_by_endpoint"] == {REDACTED: 2}
    assert row["t"] == (REDACTED, 3.5)  # a tuple stays a tuple
    assert (row["n"], row["none"]) == (1, None)
    assert rows[0]["error"] == "GET /x?api_key=s3cr3t failed"  # the input is left as it was


@pytest.mark.parametrize("secret", [None, ""])
def test_scrub_without_a_secret_returns_the_rows_themselves(secret: str | None) -> None:
    rows = [{"error": "anything"}]
    assert scrub(rows, secret) is rows


def test_the_scrubber_removes_every_form_of_the_token() -> None:
    scrubber = Scrubber(TOKEN, secret_params("access_token"))
    forms = {form(TOKEN) for form in FORMS}
    assert len(forms) == 4  # as is, URL-encoded, form-encoded and JSON-escaped all differ for this token
    for form in forms:
        assert scrubber.text(f"<{form}>") == f"<{REDACTED}>"
    with pytest.raises(HarnessError, match="still in the cassette"):
        scrubber.check(f"x {TOKEN} y", "cassette")


def test_a_link_loses_its_credential_parameters() -> None:
    scrubber = Scrubber(TOKEN, secret_params("sig"))
    assert scrubber.link("/v1/a?limit=5&sig=abc&access_token=xyz") == "/v1/a?limit=5"


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


def test_check_token_refuses_a_token_too_short_to_scrub() -> None:
    check_token(None)
    check_token("x" * MIN_TOKEN)
    with pytest.raises(HarnessError, match=f"shorter than {MIN_TOKEN} characters"):
        check_token("x" * (MIN_TOKEN - 1))
