"""`syncbench serve` and `run --base-url --clock real`: the simulator over real sockets in wall time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.errors import HarnessError
from bench.run.real import run_real
from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from bench.serve.server import ServerProcess, SimServer, check_host, scale_scenario
from bench.world.dataset import generate
from strategies import Options

#: a small world with quick answers: a real run takes well under a second
TINY_TOML = """
name = "tiny-real"
seed = 3

[dataset]
accounts = 1
conversations = 40
orphans = 2
messages = [1, 3]
history_days = 30

[activity]
cutoff_ago_s = 86400
active = 8
active_orphans = 1
reservation_only = 2

[dialect]
pagination = "offset"
page_size = 10
max_page_size = 10

[rate_limit]
algorithm = "none"

[latency]
connect_s = 0.02
jitter_sigma = 0.1
throttled_s = 0.01

[latency.endpoints]
accounts = { base_s = 0.01 }
reservations = { base_s = 0.02 }
conversations = { base_s = 0.02 }
reservation_conversations = { base_s = 0.03 }
messages = { base_s = 0.02 }
"""
SCALE = 0.5
FIGURES = (
    "api_calls",
    "calls_by_endpoint",
    "pages_by_endpoint",
    "coverage",
    "conversations_found",
    "conversations_expected",
    "messages_stored",
    "messages_expected",
    "connections",
)


def tiny_scenario(folder: Path) -> Path:
    path = folder / "tiny-real.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="module")
def server(tiny: Path) -> Iterator[ServerProcess]:
    """One server for the tests that only need its answers (no rate limit, no activity during syncs)."""
    with ServerProcess(str(tiny)) as process:
        yield process


def _same(virtual: dict[str, Any], real: dict[str, Any]) -> None:
    assert real["status"] == "ok", real["error"]
    assert {k: real[k] for k in FIGURES} == {k: virtual[k] for k in FIGURES}


@pytest.mark.parametrize("fanout", ["threads", "async"])
def test_a_real_run_matches_the_in_process_run(tiny: Path, server: ServerProcess, fanout: str) -> None:
    scenario = load_scenario(str(tiny))
    spec = RunSpec(scenario, "reservation-early-stop", fanout, Options(workers=4))
    virtual = run(spec).rows[0]
    before = len(server.log_text().splitlines())
    real = run_real(spec, server.base_url, world=generate(scenario)).rows[0]
    _same(virtual, real)
    assert real["options"]["clock"] == "real"
    # wall time cannot beat the modelled waits by much; the bound is loose for a busy machine
    assert real["makespan_s"] >= 0.9 * virtual["makespan_s"]
    requests = server.log_text().splitlines()[before:]
    assert len(requests) == real["api_calls"]
    assert all(line.startswith("GET /v1/") and line.endswith(" ms") and " 200 " in line for line in requests)


def test_run_command_over_sockets(tiny: Path, server: ServerProcess, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "-s",
            str(tiny),
            "--strategy",
            "client-filter",
            "--fanout",
            "threads",
            "-w",
            "3",
            "--base-url",
            server.base_url,
            "--clock",
            "real",
            "--json",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["results"][0]
    virtual = run(RunSpec(load_scenario(str(tiny)), "client-filter", "threads", Options(workers=3))).rows[0]
    _same(virtual, row)
    assert json.loads((tmp_path / "out" / "results.json").read_text())["results"][0]["api_calls"] == row["api_calls"]


def test_without_a_scenario_coverage_is_null(server: ServerProcess) -> None:
    result = CliRunner().invoke(
        app, ["run", "--strategy", "full-pagination", "--base-url", server.base_url, "--clock", "real", "--json"]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["results"][0]
    assert row["coverage"] is None and row["conversations_expected"] is None
    assert "no ground truth" in row["note"]
    assert row["api_calls"] > 0 and row["calls_by_endpoint"]["messages"] == 40


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.com", "::"])
def test_a_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(HarnessError, match="--allow-remote"):
        check_host(host, allow_remote=False)
    check_host(host, allow_remote=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "localhost"])
def test_loopback_hosts_are_served(host: str) -> None:
    check_host(host, allow_remote=False)


def test_serve_refuses_a_remote_host_in_one_line() -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--allow-remote" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clock", "real"], "need --base-url"),
        (["--base-url", "http://127.0.0.1:9"], "pass --clock real"),
        (["--base-url", "ftp://x", "--clock", "real"], "http:// or https://"),
        (["--base-url", "http://127.0.0.1:1", "--clock", "real"], "cannot reach"),
        (["--base-url", "http://127.0.0.1:1", "--clock", "real", "--token-env", "SYNCBENCH_NO_SUCH_VAR"], "not set"),
    ],
)
def test_bad_real_run_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["run", *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_a_new_connection_pays_the_setup_once(tiny: Path) -> None:
    """The server charges connect_s on the first request of each client connection only."""
    scenario = load_scenario(str(tiny))
    app_ = SimServer(scenario, log=lambda line: None)
    app_.start()

    async def call(port: int) -> float:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v1/accounts",
            "query_string": b"",
            "headers": [],
            "client": ("127.0.0.1", port),
        }
        began = time.monotonic()
        await app_(scope, None, send)  # type: ignore[arg-type]
        assert sent[0]["status"] == 200
        return time.monotonic() - began

    first, again, other = (asyncio.run(call(port)) for port in (5000, 5000, 5001))
    service = 0.01  # accounts' base time (jitter aside)
    assert first >= 0.02 + 0.8 * service and other >= 0.02 + 0.8 * service
    assert again < first - 0.015


def test_time_scale_shrinks_every_wait(tiny: Path) -> None:
    base = load_scenario(str(tiny))
    scaled = scale_scenario(base, 0.2)
    assert scaled.latency.connect_s == pytest.approx(0.2 * base.latency.connect_s)
    assert scaled.latency.endpoints["messages"].base_s == pytest.approx(0.2 * base.latency.endpoints["messages"].base_s)
    assert scaled.rate_limits[0].window_s == pytest.approx(0.2 * base.rate_limits[0].window_s)
    assert scaled.store.statement_s == pytest.approx(0.2 * base.store.statement_s)
    assert scaled.rate_limits[0].limit == base.rate_limits[0].limit
    assert scale_scenario(base, 1.0) is base
    with pytest.raises(ValueError):
        scale_scenario(base, 0)


def test_a_scaled_rate_limited_run_is_throttled_and_still_complete(tmp_path: Path) -> None:
    """A tight limit, time scaled: the real run sees 429s, retries through them, covers everything,
    and the server stops cleanly on Ctrl-C."""
    path = tmp_path / "tight.toml"
    path.write_text(TINY_TOML.replace('algorithm = "none"', 'algorithm = "fixed-window"\nlimit = 5\nwindow_s = 0.2'))
    scaled = scale_scenario(load_scenario(str(path)), SCALE)
    spec = RunSpec(scaled, "client-filter", "async", Options(workers=8))
    with ServerProcess(str(path), time_scale=SCALE) as process:
        real = run_real(spec, process.base_url, world=generate(scaled)).rows[0]
    assert real["status"] == "ok" and real["coverage"] == 1.0
    figures = {k: real[k] for k in ("rate_limited", "retries", "api_calls")}
    assert real["rate_limited"] > 0 and real["retries"] == real["rate_limited"], figures
    assert " 429 " in process.log_text()
    assert process.returncode == 0 and process.log_text().endswith("syncbench serve: stopped\n")


def test_httpx_reaches_the_server_with_the_time_header(server: ServerProcess) -> None:
    response = httpx.get(f"{server.base_url}/v1/accounts")
    missing = httpx.get(f"{server.base_url}/v2/nothing")
    assert response.status_code == 200 and float(response.headers["x-syncbench-t"]) >= 0.0
    assert response.headers["date"].endswith("GMT") and "server" not in response.headers
    assert missing.status_code == 404


def test_faults_play_out_over_sockets_as_in_process(tmp_path: Path) -> None:
    """Resets drop the connection, truncated answers cut the body: the same retries and calls as in-process."""
    path = tmp_path / "faulty.toml"
    path.write_text(TINY_TOML + "\n[faults]\nresets = { rate = 0.2 }\ntruncated = { rate = 0.2 }\n")
    scenario = load_scenario(str(path))
    spec = RunSpec(scenario, "client-filter", "threads", Options(workers=3))
    virtual = run(spec).rows[0]
    with ServerProcess(str(path)) as process:
        real = run_real(spec, process.base_url, world=generate(scenario)).rows[0]
    log = process.log_text()
    _same(virtual, real)
    assert real["retries"] == virtual["retries"] > 0
    assert " reset t=" in log and " truncated t=" in log and "ERROR" not in log


def test_a_server_that_cannot_start_is_reported_in_one_line() -> None:
    with pytest.raises(HarnessError, match="did not start: syncbench: error: unknown scenario 'no-such'"):
        with ServerProcess("no-such", startup_timeout=20):
            pass
