"""A cursor the API did not issue (forged, damaged, or of the wrong shape) is a 400 with a JSON error,
in-process and over `serve`: never a 500, never a restart of the listing, never a silent end."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bench.serve.server import SimServer
from bench.world.records import World

CURSOR = {"dialect": {"pagination": "cursor", "page_size": 10, "max_page_size": 10, "timestamp_precision": "s"}}
LISTINGS = ["/v1/accounts/acc-1/conversations", "/v1/accounts/acc-1/conversations/{cid}/messages"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


BAD = [
    pytest.param(_b64("[]"), id="empty-list"),
    pytest.param(_b64("[1, 2, 3]"), id="three-numbers"),
    pytest.param(_b64("[1]"), id="one-number"),
    pytest.param(_b64('["a", "b"]'), id="strings"),
    pytest.param(_b64("[true, false]"), id="booleans"),
    pytest.param(_b64("[[1], [2]]"), id="nested"),
    pytest.param(_b64('{"a": 1}'), id="object"),
    pytest.param(_b64("7"), id="a-number"),
    pytest.param(_b64("[NaN, 1]"), id="nan"),
    pytest.param(_b64("[1e999, 1]"), id="infinite"),
    pytest.param(_b64("[" * 10_000 + "]" * 10_000), id="deeply-nested"),
    pytest.param("not base64 at all!", id="not-base64"),
    pytest.param(_b64("not json"), id="not-json"),
    pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-utf8"),
]


def _listing(world: World, template: str) -> str:
    return template.format(cid=next(iter(world.conversations)))


@pytest.mark.parametrize("template", LISTINGS)
@pytest.mark.parametrize("cursor", BAD)
def test_a_bad_cursor_is_a_400_with_a_json_error(
    make_world: Callable[..., World], api_for: Callable[[World], Any], template: str, cursor: str
) -> None:
    world = make_world(**CURSOR)
    status, headers, body = api_for(world)(_listing(world, template), cursor=cursor)
    assert (status, headers["content-type"], body["status"]) == (400, "application/json", "fail")
    assert "cursor" in body["message"]


def test_an_issued_cursor_still_pages_on(make_world: Callable[..., World], api_for: Callable[[World], Any]) -> None:
    world = make_world(**CURSOR)
    get = api_for(world)
    _, _, first = get(LISTINGS[0])
    link = httpx.URL(first["paging"]["next"])
    status, _, second = get(LISTINGS[0], **dict(link.params))
    assert status == 200 and second["result"] and second["result"][0] not in first["result"]


@pytest.mark.parametrize("cursor", [_b64("[]"), _b64("[1, 2, 3]"), _b64('["a", "b"]')])
def test_serve_answers_a_bad_cursor_400_json(make_scenario: Callable[..., Any], cursor: str) -> None:
    logged: list[str] = []
    app = SimServer(make_scenario(**CURSOR), log=logged.append)
    app.start()

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            return await client.get(LISTINGS[0], params={"cursor": cursor})

    response = asyncio.run(get())
    assert response.status_code == 400 and json.loads(response.content)["message"] == "cursor is not valid"
    assert all("Traceback" not in line for line in logged)
