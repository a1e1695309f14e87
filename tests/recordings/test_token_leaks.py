"""No form of a token reaches a file or stream of `run --base-url`, `record` or `serve`, errors included;
a token that cannot be scrubbed safely is refused up front, or, when found in the data, stops the run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.errors import HarnessError
from bench.scenario.model import Scenario
from bench.serve.server import SimServer
from tests.recordings.echoing import CURSOR_PROFILE, ECHO_SCENARIO, ECHO_TOML, echoing_api
from tests.test_secrets import CANARY, leaked

runner = CliRunner()


def _profile(tmp_path: Path, auth: str = "query") -> Path:
    path = tmp_path / f"{auth}.toml"
    path.write_text(CURSOR_PROFILE + f'auth = "{auth}"\n')
    return path


def run_args(url: str, profile: Path, out: Path) -> list[str]:
    """`run --base-url` writing every file it can: results, host figures, report and trace."""
    return ["run", "--base-url", url, "--clock", "real", "--profile", str(profile), "--token-env", "TOK",
            "--max-retries", "0", "--out", str(out / "run"), "--trace", str(out / "trace.csv")]  # fmt: skip


def record_args(url: str, profile: Path, out: Path) -> list[str]:
    return ["record", "--base-url", url, "--profile", str(profile), "--token-env", "TOK", "--max-retries", "0",
            "--fanout", "threads", "-w", "2", "--out", str(out / "cassette.json")]  # fmt: skip


def leaks(token: str, done: Any, folder: Path) -> dict[str, list[str]]:
    """Where a form of `token` is, among the command's streams and every file under `folder`."""
    found = {"stdout": leaked(token, done.stdout), "stderr": leaked(token, done.stderr)}
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".toml":
            found[str(path.relative_to(folder))] = leaked(token, path.read_bytes().decode("utf-8", "replace"))
    return {where: forms for where, forms in found.items() if forms}


def test_a_token_echoed_in_a_failing_next_link_reaches_no_file_or_stream(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    with echoing_api(fail_next=True) as url:
        ran = runner.invoke(app, run_args(url, profile, tmp_path), env={"TOK": CANARY})
        recorded = runner.invoke(app, record_args(url, profile, tmp_path), env={"TOK": CANARY})
    assert ran.exit_code == 1 and recorded.exit_code == 1, (ran.output, recorded.output)
    [row] = json.loads((tmp_path / "run" / "results.json").read_text())["results"]
    assert "gave up after 1 attempts (HTTP 503)" in row["error"] and "access_token=[redacted]" in row["error"]
    assert "the recorded sync failed" in recorded.stderr
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"results.json", "results.csv", "host.json", "trace.csv", "cassette.json"} <= written, written
    assert leaks(CANARY, ran, tmp_path) == {} and leaks(CANARY, recorded, tmp_path) == {}


@pytest.mark.parametrize("auth", ["query", "bearer"])
def test_every_echo_of_the_token_is_scrubbed_from_a_cassette(tmp_path: Path, auth: str) -> None:
    with echoing_api() as url:
        done = runner.invoke(app, record_args(url, _profile(tmp_path, auth), tmp_path), env={"TOK": CANARY})
    assert done.exit_code == 0, done.output
    assert leaks(CANARY, done, tmp_path) == {}
    interactions = json.loads((tmp_path / "cassette.json").read_text())["interactions"]
    echo = json.loads(interactions[0]["response"]["body"]["string"])["echo"]
    assert echo["b64"] == echo["b64url"] == "[redacted]" and echo["inside1"].startswith("eH[redacted]")
    links = [i["response"]["headers"]["link"][0] for i in interactions]
    assert all(link.startswith("<http://127.0.0.1:") and link.endswith('>; rel="self"') for link in links)
    assert all("access_token" not in link for link in links)


@pytest.mark.parametrize("command", ["run", "record"])
def test_a_token_inside_the_records_stops_the_run_and_writes_nothing(tmp_path: Path, command: str) -> None:
    profile = _profile(tmp_path)
    args = run_args if command == "run" else record_args
    with echoing_api(in_records=True) as url:
        done = runner.invoke(app, args(url, profile, tmp_path / "out"), env={"TOK": CANARY})
    assert done.exit_code == 2 and done.stderr.count("\n") == 1, done.output
    assert "the token occurs in the records the API answered" in done.stderr and CANARY not in done.stderr
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []  # no results, no trace, no cassette


@pytest.mark.parametrize(
    "token", ["ok", "e", "conversations", "2026-03-02", "2026-03-02 09:00:00", "calls_by_endpoint"]
)
@pytest.mark.parametrize("command", ["run", "record"])
def test_a_token_that_cannot_be_scrubbed_is_refused_before_any_request(
    tmp_path: Path, command: str, token: str
) -> None:
    profile = _profile(tmp_path)
    args = run_args if command == "run" else record_args
    with echoing_api() as url:
        done = runner.invoke(app, args(url, profile, tmp_path / "out"), env={"TOK": token})
    assert done.exit_code == 2 and done.stderr.count("\n") == 1, done.output
    assert "the token" in done.stderr and [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_serve_refuses_a_token_present_in_its_world(tmp_path: Path) -> None:
    scenario = tmp_path / "echo.toml"
    scenario.write_text(ECHO_TOML)
    for token in ("message 1", '["acc-1"]', "conversations", "ok"):
        with pytest.raises(HarnessError, match="the token"):
            SimServer(Scenario.model_validate(ECHO_SCENARIO), token=token)
    done = runner.invoke(app, ["serve", "--scenario", str(scenario), "--token-env", "TOK"], env={"TOK": "message 1"})
    assert done.exit_code == 2 and done.stderr.count("\n") == 1 and "occurs in the names or data" in done.stderr
    assert SimServer(Scenario.model_validate(ECHO_SCENARIO), token=CANARY).auth.auth == "bearer"


def test_serve_scrubs_the_token_from_its_log() -> None:
    lines: list[str] = []
    server = SimServer(Scenario.model_validate(ECHO_SCENARIO), token=CANARY, log=lines.append)
    server.start()

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=server)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
            path = f"/v1/accounts/{quote(CANARY, safe='')}/conversations"
            return await client.get(path, headers={"Authorization": f"Bearer {CANARY}"})

    assert asyncio.run(ask()).status_code in (200, 404)
    assert lines and "[redacted]" in lines[0] and not leaked(CANARY, "\n".join(lines))
