"""API profiles: a strategy run through renamed paths, parameters and fields, with a token as a query
parameter, against `syncbench serve --profile` (the server side of renaming is an option of bench/serve/server.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from bench.serve.server import ServerProcess, SimServer
from strategies import ApiProfile, Options
from strategies.profile import ProfileError, load_profile
from tests.serve.test_server import TINY_TOML, tiny_scenario

TOKEN = "tok-3f9a-DO-NOT-LEAK-77c1"
TOKEN_ENV = "SYNCBENCH_TEST_TOKEN"
PROFILE_TOML = """
accounts = "/api/v2/properties"
reservations = "/api/v2/properties/{account}/bookings"
conversations = "/api/v2/properties/{account}/threads"
reservation_conversations = "/api/v2/properties/{account}/bookings/{reservation}/threads"
messages = "/api/v2/properties/{account}/threads/{conversation}/posts"
pagination = "offset"
page_size = 10
limit_param = "per_page"
offset_param = "skip"
result_field = "data"
count_field = "total"
auth = "query"
auth_param = "api_key"

[fields]
reservationId = "booking_id"
lastMessageAt = "last_activity"
updatedOn = "modified"
conversationId = "thread_id"
sentAt = "posted"
"""


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    path = tmp_path / "renamed.toml"
    path.write_text(PROFILE_TOML)
    return path


def test_a_profile_file_loads_over_the_defaults(profile_file: Path) -> None:
    profile = load_profile(profile_file)
    assert profile.conversations == "/api/v2/properties/{account}/threads"
    assert profile.limit_param == "per_page" and profile.auth == "query" and profile.auth_param == "api_key"
    assert profile.fields["lastMessageAt"] == "last_activity"
    assert profile.after_param == ApiProfile().after_param  # left out: the default stays
    assert profile.route("/api/v2/properties/acc-1/threads/12/posts") == (
        "messages",
        {"account": "acc-1", "conversation": "12"},
    )
    assert profile.route("/v1/accounts") is None
    assert TOKEN not in repr(profile.auth_for(TOKEN))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('colour = "blue"', "colour: unknown key"),
        ('messages = "/m/{conversation}"', "messages: must be a path"),
        ('pagination = "pages"', "pagination: must be one of"),
        ("page_size = 0", "page_size: must be a positive integer"),
        ("fields = 3", "fields: must be a table"),
        ("accounts = [", "malformed TOML"),
    ],
)
def test_a_bad_profile_is_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=message) as caught:
        load_profile(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_records_are_renamed_to_our_names_as_they_are_read(profile_file: Path) -> None:
    profile = load_profile(profile_file)
    request = httpx.Request("GET", "http://x/api/v2/properties/acc-1/threads")
    body = {"data": [{"id": 1, "booking_id": 5, "last_activity": "2026-03-02 09:00:00"}], "total": 1}
    parsed = profile.body(httpx.Response(200, json=body, request=request))
    assert parsed["data"] == [{"id": 1, "reservationId": 5, "lastMessageAt": "2026-03-02 09:00:00"}]


def _asgi_get(
    server: SimServer, path: str, query: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": urlencode(query).encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 4000),
    }
    asyncio.run(server(scope, None, send))  # type: ignore[arg-type]
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_the_server_checks_a_bearer_token(tmp_path: Path) -> None:
    scenario = load_scenario(str(tiny_scenario(tmp_path)))
    server = SimServer(scenario, token=TOKEN, log=lambda line: None)
    server.start()
    assert _asgi_get(server, "/v1/accounts", {})[0] == 401
    assert _asgi_get(server, "/v1/accounts", {}, {"Authorization": "Bearer wrong"})[0] == 401
    assert _asgi_get(server, "/v1/accounts", {}, {"Authorization": f"Bearer {TOKEN}"})[0] == 200


def test_cursor_links_come_back_in_the_profile_dialect(tmp_path: Path, profile_file: Path) -> None:
    path = tmp_path / "cursor.toml"
    path.write_text(TINY_TOML.replace('pagination = "offset"', 'pagination = "cursor"'))
    profile = load_profile(profile_file)
    server = SimServer(load_scenario(str(path)), profile=profile, log=lambda line: None)
    server.start()
    status, body = _asgi_get(server, "/api/v2/properties/acc-1/threads", {"per_page": 3, "api_key": TOKEN})
    assert status == 200 and len(body["data"]) == 3 and "last_activity" in body["data"][0]
    link = body["paging"]["next"]
    assert link.startswith("/api/v2/properties/acc-1/threads?") and "per_page=3" in link
    assert TOKEN not in link and "api_key" not in link


def test_a_strategy_runs_through_a_renamed_api_and_the_token_never_leaks(
    tmp_path: Path, profile_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = tiny_scenario(tmp_path)
    out, trace = tmp_path / "out", tmp_path / "trace" / "trace.csv"
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with ServerProcess(str(tiny), profile=profile_file, token_env=TOKEN_ENV, env={TOKEN_ENV: TOKEN}) as server:
        denied = httpx.get(f"{server.base_url}/api/v2/properties")
        wrong = httpx.get(f"{server.base_url}/api/v2/properties", params={"api_key": "nope"})
        old_path = httpx.get(f"{server.base_url}/v1/accounts", params={"api_key": TOKEN})
        result = CliRunner().invoke(
            app,
            [
                "run",
                "-s",
                str(tiny),
                "--strategy",
                "reservation-early-stop",
                "--fanout",
                "async",
                "-w",
                "4",
                "--base-url",
                server.base_url,
                "--clock",
                "real",
                "--profile",
                str(profile_file),
                "--token-env",
                TOKEN_ENV,
                "--json",
                "--out",
                str(out),
                "--trace",
                str(trace),
            ],
        )
    assert (denied.status_code, wrong.status_code, old_path.status_code) == (401, 401, 404)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["results"][0]
    virtual = run(RunSpec(load_scenario(str(tiny)), "reservation-early-stop", "async", Options(workers=4))).rows[0]
    for figure in ("status", "coverage", "conversations_found", "messages_stored", "api_calls", "calls_by_endpoint"):
        assert row[figure] == virtual[figure], figure
    log = server.log_text()
    assert "GET /api/v2/properties/acc-1/bookings 200" in log
    assert TOKEN not in log and "api_key" not in log
    assert TOKEN not in result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".png"]
    assert {p.name for p in written} >= {"results.json", "results.csv", "host.json", "trace.csv"}
    for path in written:
        assert TOKEN not in path.read_text(errors="replace"), path
    for path in tmp_path.rglob("*.png"):
        assert TOKEN.encode() not in path.read_bytes()
