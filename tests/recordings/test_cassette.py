"""Recorded sessions: `syncbench record` over loopback, `syncbench import`, and `run --cassette` (replay).

The shipped cassette, fixtures/cassettes/tiny-cursor.json, and its scenario were made with

    python -m bench.serve.server --scenario tiny-cursor.toml --port 8123 &     # TINY_TOML below
    syncbench record --base-url http://127.0.0.1:8123 --strategy client-filter --fanout threads -w 4 \\
        --profile cursor.toml --out fixtures/cassettes/tiny-cursor.json  # CURSOR_PROFILE below
    syncbench import fixtures/cassettes/tiny-cursor.json --out fixtures/cassettes/tiny-cursor.toml
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from bench.api.base import SimRequest
from bench.api.core import SimulatedAPI
from bench.cli.main import app
from bench.recordings.cassette import Interaction, load_cassette
from bench.recordings.latency_fit import fit_latency
from bench.recordings.replay import replay
from bench.scenario.model import Scenario, ScenarioError, load_scenario
from bench.serve.server import ServerProcess
from bench.world.dataset import generate
from strategies import ApiProfile, Options, available

TINY_TOML = """
name = "tiny-cursor"
seed = 5

[dataset]
accounts = 2
conversations = 20
orphans = 2
messages = [1, 4]
history_days = 30

[activity]
cutoff_ago_s = 86400
active = 5
active_orphans = 1
reservation_only = 2

[dialect]
pagination = "cursor"
page_size = 10
max_page_size = 10

[rate_limit]
algorithm = "none"

[latency]
connect_s = 0.01
jitter_sigma = 0.1
throttled_s = 0.01

[latency.endpoints]
accounts = { base_s = 0.005 }
reservations = { base_s = 0.01, per_item_s = 0.001 }
conversations = { base_s = 0.01, per_item_s = 0.001 }
reservation_conversations = { base_s = 0.01 }
messages = { base_s = 0.008, per_item_s = 0.001 }
"""
CURSOR_PROFILE = 'pagination = "cursor"\npage_size = 10\n'
SHIPPED = Path(str(resources.files("bench.fixtures").joinpath("cassettes")))
#: the shipped cassette's metadata, as JSON: a cassette made of it reaches its interactions
_METADATA = json.dumps(json.loads((SHIPPED / "tiny-cursor.json").read_text(encoding="utf-8"))["metadata"])
runner = CliRunner()


def _invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cassette-inputs")
    (folder / "tiny-cursor.toml").write_text(TINY_TOML)
    (folder / "cursor.toml").write_text(CURSOR_PROFILE)
    return {"scenario": folder / "tiny-cursor.toml", "profile": folder / "cursor.toml"}


@pytest.fixture(scope="module")
def server(files: dict[str, Path]) -> Iterator[ServerProcess]:
    with ServerProcess(str(files["scenario"])) as process:
        yield process


# -- record -> import -> replay ---------------------------------------------------------------


def test_record_import_replay_round_trip(server: ServerProcess, files: dict[str, Path], tmp_path: Path) -> None:
    cassette = tmp_path / "session.json"
    done = _invoke(
        "record", "--base-url", server.base_url, "--strategy", "client-filter", "--fanout", "threads", "-w", "3",
        "--profile", str(files["profile"]), "--out", str(cassette),
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "recorded" in done.stderr
    recording = load_cassette(cassette)
    recorded = recording.meta["recorded"]
    assert recorded["status"] == "ok" and len(recording.interactions) == recorded["api_calls"]
    assert all(it.latency_s > 0 for it in recording.interactions)
    assert any(it.new_connection for it in recording.interactions)

    world = generate(load_scenario(str(files["scenario"])))
    visible = [c for c in world.conversations.values() if any(m.visible_t <= 0 for m in c.messages)]
    for fanout in ("sequential", "threads", "async"):
        row = replay(recording, "client-filter", fanout, Options(workers=3))[0].rows[0]
        assert row["status"] == "ok", row["error"]
        assert row["calls_by_endpoint"] == recorded["calls_by_endpoint"]
        assert row["coverage"] == 1.0 and row["conversations_expected"] == len(visible)
        assert row["messages_stored"] == sum(1 for c in visible for m in c.messages if m.visible_t <= 0)

    scenario_file = tmp_path / "imported.toml"
    done = _invoke("import", str(cassette), "--out", str(scenario_file))
    assert done.exit_code == 0, done.output
    imported = load_scenario(str(scenario_file))
    assert imported.name == "imported" and imported.literal is not None
    assert len(imported.literal.conversations) == len(visible)
    assert imported.dialect.pagination == "cursor" and imported.dialect.page_size == 10
    assert imported.latency.connect_s > 0 and 0 < imported.latency.jitter_sigma < 1
    assert imported.start > max(m.sentAt for m in imported.literal.messages).replace(tzinfo=imported.start.tzinfo)
    for strategy in available():
        for fanout in ("threads", "async"):
            done = _invoke(
                "run", "--scenario", str(scenario_file), "--strategy", strategy, "--fanout", fanout, "--json"
            )
            assert done.exit_code == 0, f"{strategy}/{fanout}: {done.output}"
            row = json.loads(done.stdout)["results"][0]
            assert row["status"] == "ok" and row["coverage"] == 1.0, (strategy, fanout, row["missed"])


def test_replay_of_the_shipped_cassette(tmp_path: Path) -> None:
    cassette = SHIPPED / "tiny-cursor.json"
    recorded = load_cassette(cassette).meta["recorded"]
    rows = []
    for fanout, workers in (("sequential", 1), ("threads", 4), ("async", 4)):
        done = _invoke(
            "run", "--cassette", str(cassette), "--strategy", "client-filter", "--fanout", fanout, "-w", str(workers),
            "--json",
        )  # fmt: skip
        assert done.exit_code == 0, done.output
        rows.append(json.loads(done.stdout)["results"][0])
    for row in rows:
        assert row["scenario"] == "tiny-cursor" and row["status"] == "ok"
        assert row["api_calls"] == recorded["api_calls"] == 45
        assert row["calls_by_endpoint"] == recorded["calls_by_endpoint"]
        assert row["coverage"] == 1.0 and row["conversations_expected"] == 40 and row["conversations_missed"] == 0
        assert row["note"].startswith("coverage against the records")
    sequential, threads, asyncio_ = rows
    assert threads["makespan_s"] == asyncio_["makespan_s"] < sequential["makespan_s"]
    again = _invoke("run", "--cassette", str(cassette), "--strategy", "client-filter", "--fanout", "async", "-w", "4")
    assert again.exit_code == 0  # the replay is deterministic: same figures every time
    shipped = load_scenario(str(SHIPPED / "tiny-cursor.toml"))
    assert shipped.literal is not None and len(shipped.literal.conversations) == 40


def test_vcrpy_itself_plays_the_shipped_cassette() -> None:
    """The file is an ordinary vcrpy cassette: syncbench's additions do not get in vcrpy's way."""
    import vcr

    recording = load_cassette(SHIPPED / "tiny-cursor.json")
    first = json.loads((SHIPPED / "tiny-cursor.json").read_text())["interactions"][0]["request"]["uri"]
    with vcr.use_cassette(str(SHIPPED / "tiny-cursor.json"), serializer="json", record_mode="none"):
        response = httpx.get(first)
    assert response.status_code == 200 and response.content == recording.interactions[0].body


def test_a_request_missing_from_the_recording_is_one_line_exit_2() -> None:
    cassette = str(SHIPPED / "tiny-cursor.json")
    for args in (["--strategy", "reservation-early-stop"], ["--strategy", "client-filter", "--page-size", "7"]):
        done = _invoke("run", "--cassette", cassette, *args, "--fanout", "threads", "-w", "3")
        assert done.exit_code == 2, done.output
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert done.stderr.startswith("syncbench: error: GET /v1/accounts/acc-1/")
        assert "is not in the recording" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such cassette"),
        ('{"interactions": [', "not a valid cassette: malformed JSON at line 1"),
        ('{"version": 1}', "interactions: missing"),
        ('{"version": 1, "interactions": [], "metadata": ' + _METADATA + "}", "interactions: empty"),
        ('{"version": 1, "interactions": [{}]}', "no metadata.syncbench: record the cassette with `syncbench record`"),
        ('{"interactions": [{"request": {}}], "metadata": ' + _METADATA + "}", "interactions.0: malformed"),
        ('{"interactions": [{}], "metadata": {"syncbench": {"format": 2}}}', "metadata.syncbench.format: want 1"),
    ],
)
def test_bad_cassettes_are_one_line_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    cassette = tmp_path / "bad.json"
    if content is not None:
        cassette.write_text(content)
    for args in (["run", "--cassette", str(cassette), "--out", str(tmp_path / "out")],):
        done = _invoke(*args)
        assert done.exit_code == 2, done.output
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    done = _invoke("import", str(cassette), "--out", str(tmp_path / "x.toml"))
    assert done.exit_code == 2 and message in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.toml").exists()


def test_record_refuses_bad_input_before_writing(tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"
    cassette.write_text("keep me")
    cases = [
        (["--base-url", "ftp://x", "--out", str(tmp_path / "n.json")], "http:// or https://"),
        (["--base-url", "http://127.0.0.1:1", "--out", str(tmp_path / "n.json")], "cannot reach"),
        (["--base-url", "http://127.0.0.1:1", "--out", str(cassette)], "exists; pass --force"),
        (["--base-url", "http://127.0.0.1:1", "--out", str(tmp_path)], "is a folder"),
        (["--base-url", "http://127.0.0.1:1", "--out", str(cassette / "x.json")], "is a file"),
        (
            ["--base-url", "http://127.0.0.1:1", "--out", str(tmp_path / "n.json"), "--token-env", "SYNCBENCH_NO_SUCH"],
            "not set",
        ),
        (
            ["--base-url", "http://127.0.0.1:1", "--out", str(tmp_path / "n.json"), "--strategy", "nope"],
            "unknown strategy",
        ),
        (
            ["--base-url", "http://127.0.0.1:1", "--out", str(tmp_path / "n.json"), "--token-env", "SHORT_TOKEN"],
            "shorter than 8",
        ),
    ]
    for args, message in cases:
        done = _invoke("record", *args, env={"SHORT_TOKEN": "abc"})
        assert done.exit_code == 2 and done.stderr.count("\n") == 1 and message in done.stderr, (args, done.stderr)
    assert cassette.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


# -- secrets ----------------------------------------------------------------------------------

SECRET = "cAnary-s3cr3t+/=~tok"


def _forms(secret: str) -> set[str]:
    """Every spelling of the secret a file could hold: raw, URL-encoded either way, as httpx sends it."""
    sent = str(httpx.URL("http://x/", params={"t": secret})).split("t=", 1)[1]
    return {secret, quote(secret, safe=""), quote_plus(secret), sent, json.dumps(secret)[1:-1]}


class _EchoingAPI(BaseHTTPRequestHandler):
    """The simulated core behind a plain HTTP server that leaks the token every way an API can: it keeps
    the query token in its next links (as some social APIs do), sets it as a cookie, and quotes it in a
    header and in the body."""

    api: SimulatedAPI
    lock = threading.Lock()
    began = time.monotonic()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.lock:
            sim = self.api.handle(SimRequest("GET", parts.path, query, headers), time.monotonic() - self.began)
        token = query.get("access_token") or headers.get("authorization", "").removeprefix("Bearer ")
        body = json.loads(sim.body)
        body["echo"] = {"seen": f"token {token}", "self": f"{self.path}"}
        data = json.dumps(body).encode()
        self.send_response_only(sim.status)  # no second Date header: the simulated one is the server's
        for name, value in sim.headers:
            self.send_header(name, value)
        self.send_header("Set-Cookie", f"session={token}; HttpOnly")
        self.send_header("X-Echo", token)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echoing(files: dict[str, Path]) -> Iterator[str]:
    _EchoingAPI.api = SimulatedAPI(generate(load_scenario(str(files["scenario"]))))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingAPI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("auth", ["bearer", "query"])
def test_canary_secret_never_reaches_a_written_file(echoing: str, tmp_path: Path, auth: str) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(CURSOR_PROFILE + f'auth = "{auth}"\n')
    env = {"CANARY_TOKEN": SECRET}
    cassette = tmp_path / "canary.json"
    outputs = []
    done = _invoke(
        "record", "--base-url", echoing, "--strategy", "client-filter", "--fanout", "async", "-w", "3",
        "--profile", str(profile), "--token-env", "CANARY_TOKEN", "--out", str(cassette), env=env,
    )  # fmt: skip
    outputs.append(done.output)
    assert done.exit_code == 0, done.output
    raw = json.loads(cassette.read_text())
    bodies = [json.loads(i["response"]["body"]["string"]) for i in raw["interactions"]]
    assert all(b["echo"]["seen"] == "token [redacted]" for b in bodies)  # the server did leak it, and it was caught
    links = [b["paging"]["next"] for b in bodies if b.get("paging", {}).get("next")]
    assert links and all("cursor=" in link and "access_token" not in link for link in links)
    assert all("set-cookie" not in i["response"]["headers"] for i in raw["interactions"])
    for args in (
        ["run", "--cassette", str(cassette), "--strategy", "client-filter", "--fanout", "threads", "-w", "2",
         "--out", str(tmp_path / "replay"), "--trace", str(tmp_path / "trace.csv")],
        ["run", "--cassette", str(cassette), "--strategy", "client-filter", "--json"],
        ["import", str(cassette), "--out", str(tmp_path / "canary.toml")],
    ):  # fmt: skip
        done = _invoke(*args, env=env)
        assert done.exit_code == 0, done.output
        outputs.append(done.output)
    assert load_scenario(str(tmp_path / "canary.toml")).literal is not None
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 6
    for path in written:
        data = path.read_bytes()
        assert not any(form.encode() in data for form in _forms(SECRET)), f"the token is in {path.name}"
    assert not any(form in text for form in _forms(SECRET) for text in outputs)


# -- the literal dataset and the latency fit ----------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ('accounts = []', "literal: accounts: List should have at least 1 item"),
        ('accounts = ["a"]\nmessages = [{ id = 1, conversationId = 9, sentAt = 2026-01-01T00:00:00Z }]',
         "literal: messages.0.conversationId: no conversation 9"),
        ('accounts = ["a"]\nconversations = [{ id = 1, account = "b", createdAt = 2026-01-01T00:00:00Z }]',
         "literal: conversations.0.account: 'b' is not in accounts"),
        ('accounts = ["a"]\nconversations = [{ id = 1, account = "a", createdAt = "yesterday" }]',
         "literal: conversations.0.createdAt: Input should be a valid datetime"),
        ('accounts = ["a"]\nreservations = [{ id = 1, account = "a", updatedOn = 2026-01-01T00:00:00Z }, '
         '{ id = 1, account = "a", updatedOn = 2026-01-01T00:00:00Z }]', "literal: reservations.1.id: duplicate id 1"),
    ],
)  # fmt: skip
def test_a_bad_literal_table_is_one_line_naming_the_field(tmp_path: Path, literal: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "x"\n[literal]\n{literal}\n')
    with pytest.raises(ScenarioError) as error:
        load_scenario(str(path))
    assert str(error.value).startswith(f"{path}: {message}") and "\n" not in str(error.value)


def test_a_literal_scenario_ignores_the_dataset_sizes() -> None:
    """Checks of [dataset] against [activity] do not apply: a literal world has no generated records."""
    literal = {"accounts": ["a"], "conversations": [{"id": 1, "account": "a", "createdAt": "2026-03-01T00:00:00Z"}]}
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "dataset": {"conversations": 0, "history_days": 0.01},
            "activity": {"active": 5},
            "literal": literal,
        }
    )
    world = generate(scenario)
    assert list(world.conversations) == [1] and world.accounts == ["a"]


def test_the_latency_fit_recovers_a_known_model() -> None:
    """Least squares on items per page, the median scaling and the log spread give back the parameters."""
    import random

    rng = random.Random(1)
    base, per_item, sigma, connect = 0.2, 0.003, 0.15, 0.05
    interactions = []
    for i in range(600):
        items = rng.randint(0, 100)
        new = i % 50 == 0
        latency = (base + per_item * items) * rng.lognormvariate(0, sigma) + (connect if new else 0)
        body = json.dumps({"result": [{"id": n} for n in range(items)]}).encode()
        interactions.append(Interaction("GET", "/v1/accounts/a/conversations", (), 200, (), body, latency, new))
    fit = fit_latency(interactions, ApiProfile())
    fitted_base, fitted_per_item = fit.endpoints["conversations"]
    assert math.isclose(fitted_base, base, rel_tol=0.1) and math.isclose(fitted_per_item, per_item, rel_tol=0.1)
    assert math.isclose(fit.jitter_sigma, sigma, rel_tol=0.15)
    assert 0.02 < fit.connect_s < 0.09 and fit.throttled_s is None


# -- a larger recording --------------------------------------------------------------------------

#: one account, 990 conversations of one message each: a first sync is 1 + 10 + 990 = 1,001 requests
BIG_TOML = """
name = "big-recording"
seed = 2

[dataset]
accounts = 1
conversations = 990
messages = [1, 1]
history_days = 30

[rate_limit]
algorithm = "none"

[latency]
connect_s = 0.0
jitter_sigma = 0.0

[latency.endpoints]
accounts = { base_s = 0.0005 }
conversations = { base_s = 0.0005 }
messages = { base_s = 0.0005 }
"""


def record_big(folder: Path) -> Path:
    """Record a 1,001-request session from `syncbench serve` over loopback (a few seconds of wall time)."""
    (folder / "big.toml").write_text(BIG_TOML)
    cassette = folder / "big.json"
    with ServerProcess(str(folder / "big.toml")) as process:
        done = _invoke(
            "record", "--base-url", process.base_url, "--strategy", "full-pagination", "--fanout", "threads",
            "-w", "20", "--out", str(cassette),
        )  # fmt: skip
    assert done.exit_code == 0, done.output
    return cassette


def test_a_1000_request_recording_replays(tmp_path: Path) -> None:
    """The timing target (under 2 s of host time) is asserted in tests/benchmarks/test_replay_speed.py."""
    cassette = record_big(tmp_path)
    recording = load_cassette(cassette)
    assert len(recording.interactions) == 1001
    row = replay(recording, "full-pagination", "async", Options(workers=20))[0].rows[0]
    assert row["status"] == "ok" and row["api_calls"] == 1001 and row["coverage"] == 1.0
