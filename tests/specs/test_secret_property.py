"""Property: no form of a token reaches any file or stream, for every command that takes one.

Random tokens from a hostile alphabet (URL-reserved characters, quotes, backslashes, `=`,
`+`, `/`, non-ASCII text) are sent as a query parameter to an API that echoes them back
in next links, a `Link` header, cookies, bodies (as is, JSON-escaped, base64 at every
alignment) and errors (tests/recordings/echoing.py), through `run --base-url` and `record`;
and to `syncbench serve --token-env` with a run against it and its `report`. A command may
refuse a token it cannot scrub safely (exit 2, one line), but never leak one: the forms
looked for are written out independently of bench.secrets (tests/test_secrets.py).
Bounded by the properties' hypothesis profile (`ci` by default; `thorough` runs more).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from bench.cli.main import app
from bench.errors import HarnessError
from bench.serve.server import ServerProcess
from tests.properties.harness import profile
from tests.recordings.echoing import CURSOR_PROFILE, ECHO_TOML, echoing_api
from tests.recordings.test_token_leaks import leaks, record_args, run_args
from tests.test_secrets import leaked

runner = CliRunner()
_RESERVED = list("/?#&=+%;:@ \"'\\<>{}[]|^`,$!*()~-_.")
#: printable characters only: a token with control characters is refused before anything else
_TEXT = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))
hostile_tokens = st.text(st.one_of(st.sampled_from(_RESERVED), _TEXT), min_size=8, max_size=24).filter(
    lambda t: t == t.strip()
)


def _files(tmp: Path) -> dict[str, Path]:
    (tmp / "query.toml").write_text(CURSOR_PROFILE + 'auth = "query"\n')
    (tmp / "echo.toml").write_text(ECHO_TOML)
    return {"profile": tmp / "query.toml", "scenario": tmp / "echo.toml"}


def _checked(token: str, done: Any, folder: Path) -> None:
    """Exit 0/1, or 2 with one line refusing the token; and no form of it in any stream or file."""
    assert done.exit_code in (0, 1, 2), done.output
    if done.exit_code == 2:
        assert done.stderr.count("\n") == 1 and "the token" in done.stderr, done.stderr
    assert leaks(token, done, folder) == {}


@given(token=hostile_tokens, fail_next=st.booleans())
@profile(weight=0.12)
def test_no_form_of_a_token_leaks_from_run_record_or_report(token: str, fail_next: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        files = _files(tmp)
        env = {"TOK": token}
        with echoing_api(fail_next=fail_next) as url:
            ran = runner.invoke(app, run_args(url, files["profile"], tmp), env=env)
            _checked(token, ran, tmp)
            recorded = runner.invoke(app, record_args(url, files["profile"], tmp), env=env)
            _checked(token, recorded, tmp)
        assert (ran.exit_code == 2) == (recorded.exit_code == 2)  # both refuse the same tokens


@given(token=hostile_tokens)
@profile(weight=0.04)
def test_no_form_of_a_token_leaks_from_serve_or_a_run_against_it(token: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        files = _files(tmp)
        env = {"TOK": token}
        server = ServerProcess(str(files["scenario"]), profile=files["profile"], token_env="TOK", env=env)
        try:
            server.__enter__()
        except HarnessError as error:  # refused: one line naming the reason, never the token
            assert "the token" in str(error) and not leaked(token, str(error)) and not leaked(token, server.log_text())
            return
        try:
            args = [*run_args(server.base_url, files["profile"], tmp), "--scenario", str(files["scenario"])]
            done = runner.invoke(app, args, env=env)
            _checked(token, done, tmp)
            if done.exit_code != 2:
                reported = runner.invoke(app, ["report", str(tmp / "run")])
                assert reported.exit_code == 0 and (tmp / "run" / "report.md").exists(), reported.output
                _checked(token, reported, tmp)
        finally:
            server.stop()
        assert "GET /v1/accounts" in server.log_text() and not leaked(token, server.log_text())
