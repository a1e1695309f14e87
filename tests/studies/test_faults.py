"""Fault injection and the fault matrix: faults are seeded per request, ride-out-able faults are ridden out,
permanent ones fail loudly with the bookmark held, and `syncbench faults` judges and reports it all."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bench.api.base import SimRequest
from bench.api.core import SimulatedAPI
from bench.api.faults import FaultyAPI, with_faults
from bench.cli.main import app
from bench.clock import VirtualClock
from bench.run.runner import BASE_URL, RunSpec, SyncState, run
from bench.scenario.faults import Faults
from bench.scenario.model import Scenario, ScenarioError, load_scenario
from bench.studies.faults import FaultCase, cases_for, judge, run_matrix
from bench.transport.sim import SimTransport
from strategies import Options

ACTIVE = {"activity": {"active": 6, "during_sync": 0}}


@pytest.fixture
def tiny(make_scenario: Callable[..., Scenario]) -> Scenario:
    """25 conversations in pages of 10, 6 with new messages, no rate limit, no jitter."""
    return make_scenario(**ACTIVE)


def faulty(scenario: Scenario, **faults: Any) -> FaultyAPI:
    from bench.world.dataset import generate

    api = with_faults(SimulatedAPI(generate(scenario)), Faults.model_validate(faults))
    assert isinstance(api, FaultyAPI)
    return api


def get(api: FaultyAPI, path: str, t: float = 0.0, **query: Any) -> Any:
    return api.handle(SimRequest("GET", path, {k: str(v) for k, v in query.items()}, {}), t)


CONVERSATIONS = "/v1/accounts/acc-1/conversations"


def run_with(
    scenario: Scenario, strategy: str, fanout: str = "sequential", workers: int = 1, **faults: Any
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Rows of one faulted run and the faults the API injected."""
    injected: dict[str, int] = {}

    def observe(state: SyncState) -> None:
        injected.update(getattr(state.api, "injected", {}))

    spec = RunSpec(
        scenario.model_copy(update={"faults": Faults.model_validate(faults)}),
        strategy,
        fanout,
        Options(workers=workers),
    )
    return run(spec, observe=observe).rows, injected


# -- the fault layer ----------------------------------------------------------------------------


def test_no_fault_means_the_plain_core(tiny: Scenario) -> None:
    """With every knob off the runner talks to the core itself, so fault-free results cannot change."""
    from bench.world.dataset import generate

    api = SimulatedAPI(generate(tiny))
    assert with_faults(api, Faults()) is api


def test_fault_choice_depends_on_the_request_not_the_order(tiny: Scenario) -> None:
    """The same requests fail whatever order other requests came in: the draw is per request."""
    paths = [f"{CONVERSATIONS}/{cid}/messages" for cid in range(1, 13)]
    forward = faulty(tiny, server_errors={"rate": 0.5, "burst": 1})
    backward = faulty(tiny, server_errors={"rate": 0.5, "burst": 1})
    first = {p: get(forward, p).status for p in paths}
    second = {p: get(backward, p).status for p in reversed(paths)}
    assert first == second
    assert {500, 502, 503} & set(first.values()) and 200 in first.values()


def test_burst_fails_that_many_attempts_then_recovers(tiny: Scenario) -> None:
    """A hit request fails `burst` attempts in a row; `burst = None` fails it for good."""
    api = faulty(tiny, server_errors={"rate": 1.0, "burst": 2})
    statuses = [get(api, CONVERSATIONS).status for _ in range(4)]
    assert all(s >= 500 for s in statuses[:2]) and statuses[2:] == [200, 200]
    permanent = faulty(tiny, server_errors={"rate": 1.0, "burst": None})
    assert all(get(permanent, CONVERSATIONS).status >= 500 for _ in range(10))
    assert permanent.injected.total() == 10


def test_storm_throttles_everything_inside_its_window(tiny: Scenario) -> None:
    """Inside the storm every request is a 429 with the configured Retry-After; outside, the API answers."""
    api = faulty(tiny, storm={"start_s": 1.0, "duration_s": 2.0, "retry_after_s": 1})
    before, during, after = get(api, CONVERSATIONS, 0.5), get(api, CONVERSATIONS, 1.5), get(api, CONVERSATIONS, 3.0)
    assert (before.status, during.status, after.status) == (200, 429, 200)
    assert during.throttled and ("retry-after", "1") in during.headers


def test_page_faults_serve_short_and_overlapping_pages(tiny: Scenario) -> None:
    """A short page serves fewer than asked; an overlapping offset listing repeats the previous page's tail."""
    short = faulty(tiny, short_pages={"rate": 1.0, "keep": 0.5})
    assert len(json.loads(get(short, CONVERSATIONS, limit=10, offset=0).body)["result"]) == 5
    overlap = faulty(tiny, duplicates={"rate": 1.0, "overlap": 3})
    first = json.loads(get(overlap, CONVERSATIONS, limit=10, offset=0).body)
    second = json.loads(get(overlap, CONVERSATIONS, limit=10, offset=10).body)
    assert [c["id"] for c in second["result"][:3]] == [c["id"] for c in first["result"][-3:]]
    assert second["count"] == first["count"] + 3  # as if three records were inserted at the top
    ignored = faulty(tiny, page_size=4)
    assert len(json.loads(get(ignored, CONVERSATIONS, limit=10).body)["result"]) == 4


def _send(api: FaultyAPI, clock: VirtualClock, path: str) -> tuple[type[Exception] | int, float, int]:
    """Send one GET through the simulated transport: (status or exception type, seconds, traced status)."""
    transport = SimTransport(api, clock)  # type: ignore[arg-type]
    start = clock.now()
    with httpx.Client(transport=transport, base_url=BASE_URL, timeout=5.0) as client:
        try:
            outcome: type[Exception] | int = client.get(path).status_code
        except httpx.TransportError as error:
            outcome = type(error)
    return outcome, clock.now() - start, transport.trace[-1].status


def test_transport_raises_httpx_errors_on_the_virtual_clock(tiny: Scenario) -> None:
    """A hang costs exactly the client's read timeout, then ReadTimeout; resets and cut bodies are
    protocol errors; each is traced with status 0 (no response reached the client)."""
    connect = tiny.latency.connect_s
    hang, seconds, traced = _send(faulty(tiny, timeouts={"rate": 1.0, "hang_s": 60}), VirtualClock(), CONVERSATIONS)
    assert (hang, traced) == (httpx.ReadTimeout, 0) and seconds == pytest.approx(connect + 5.0)
    reset, _, traced = _send(faulty(tiny, resets={"rate": 1.0}), VirtualClock(), CONVERSATIONS)
    assert (reset, traced) == (httpx.ConnectError, 0)  # a new connection: reset while connecting
    cut, _, traced = _send(faulty(tiny, truncated={"rate": 1.0}), VirtualClock(), CONVERSATIONS)
    assert (cut, traced) == (httpx.RemoteProtocolError, 0)
    slow, seconds, _ = _send(faulty(tiny, timeouts={"rate": 1.0, "hang_s": 2}), VirtualClock(), CONVERSATIONS)
    assert slow == 200 and seconds == pytest.approx(connect + 2.0)  # slower than usual, inside the timeout


def test_malformed_body_is_a_complete_invalid_answer(tiny: Scenario) -> None:
    response = get(faulty(tiny, malformed={"rate": 1.0}), CONVERSATIONS)
    assert response.status == 200 and response.transport_fault is None
    with pytest.raises(ValueError):
        json.loads(response.body)


def test_faults_load_from_toml_and_bad_ones_are_refused(tmp_path: Path) -> None:
    """`[faults]` in a scenario file is validated; a bad value names the field in one line."""
    good = tmp_path / "good.toml"
    good.write_text('name = "g"\n[faults.server_errors]\nrate = 0.2\nburst = 2\n[faults.storm]\nduration_s = 3\n')
    faults = load_scenario(str(good)).faults
    assert faults.server_errors.rate == 0.2 and faults.storm is not None and faults.active
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\n[faults.server_errors]\nrate = 2\n')
    with pytest.raises(ScenarioError, match=r"faults: server_errors\.rate") as caught:
        load_scenario(str(bad))
    assert "\n" not in str(caught.value)


# -- strategies under faults ------------------------------------------------------------------


@pytest.mark.parametrize("pagination", ["offset", "keyset", "cursor"])
@pytest.mark.parametrize(
    "fault",
    [
        {"short_pages": {"rate": 1.0, "keep": 0.5}},
        {"duplicates": {"rate": 1.0, "overlap": 3}},
        {"page_size": 4},  # fewer than the 10 asked
        {"page_size": 10, "short_pages": {"rate": 0.5, "keep": 0.3}},
    ],
    ids=["short-pages", "duplicates", "page-size-ignored", "mixed"],
)
def test_paging_reads_everything_whatever_the_pages(
    make_scenario: Callable[..., Scenario], pagination: str, fault: dict[str, Any]
) -> None:
    """A full sync stores every conversation once, in every dialect, however the server pages.

    Keyset with overlapping pages used to stop early (repeated records counted toward the
    listing's `count`) and lose the tail silently; paginate now counts each record once.
    """
    scenario = make_scenario(dialect={"pagination": pagination}, **ACTIVE)
    [row], injected = run_with(scenario, "full-pagination", **fault)
    assert injected, "the fault never applied"
    assert (row["status"], row["coverage"], row["duplicates"]) == ("ok", 1.0, 0), row["missed"]


def test_keyset_paging_ends_on_a_page_of_repeats() -> None:
    """An inclusive afterId repeats the anchor: a page with nothing new ends the listing instead of
    asking for the same page forever (the total it promised is out of reach: a record moved away)."""
    from strategies import ApiProfile, Call, SyncContext
    from strategies.paging import paginate

    profile = ApiProfile(pagination="keyset", page_size=3)
    ctx = SyncContext(clock=VirtualClock(), store=None, profile=profile)  # type: ignore[arg-type]
    pages = iter([[1, 2, 3], [3, 4, 5], [5, 6], [6]])  # count says 7; record 7 moved ahead of the anchor
    gen, payload, calls = paginate(ctx, CONVERSATIONS), None, 0
    while True:
        try:
            effect = gen.send(payload)
        except StopIteration as stop:
            records = stop.value
            break
        assert isinstance(effect, Call) and calls < 10, "paginate keeps asking"
        calls += 1
        body = {"result": [{"id": i} for i in next(pages)], "count": 7}
        payload = httpx.Response(200, json=body, request=httpx.Request("GET", BASE_URL + effect.path))
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5, 6] and calls == 4


def test_client_asking_less_than_the_server_serves_reads_everything(make_scenario: Callable[..., Scenario]) -> None:
    """Offset paging advances by what the server returned, not by what it asked for."""
    scenario = make_scenario(**ACTIVE)
    spec = RunSpec(
        scenario.model_copy(update={"faults": Faults(page_size=10)}), "full-pagination", options=Options(page_size=3)
    )
    [row] = run(spec).rows
    assert (row["coverage"], row["duplicates"], row["pages_by_endpoint"]["conversations"]) == (1.0, 0, 3)


@pytest.mark.parametrize("fanout", ["sequential", "threads", "async"])
def test_faults_hit_the_same_requests_in_every_fanout(tiny: Scenario, fanout: str) -> None:
    """Per-request draws: the same calls fail, so the same retries happen, in every mode."""
    rows, injected = run_with(
        tiny, "client-filter", fanout, 4, server_errors={"rate": 0.3, "burst": 2}, resets={"rate": 0.2, "burst": 1}
    )
    reference, expected = run_with(
        tiny,
        "client-filter",
        "sequential",
        1,
        server_errors={"rate": 0.3, "burst": 2},
        resets={"rate": 0.2, "burst": 1},
    )
    assert injected == expected and rows[0]["retries"] == reference[0]["retries"] > 0
    assert rows[0]["coverage"] == 1.0


def test_a_sync_that_gives_up_says_why_and_holds_the_bookmark(tiny: Scenario) -> None:
    """An outage longer than the retry budget fails the sync with the reason; the bookmark stays put."""
    bookmarks: list[tuple[int | None, int | None]] = []

    def observe(state: SyncState) -> None:
        bookmarks.append((state.bookmarks_before["acc-1"], state.store.bookmark("acc-1")))

    faults = Faults.model_validate({"server_errors": {"rate": 1.0, "burst": None, "endpoints": ["messages"]}})
    spec = RunSpec(tiny.model_copy(update={"faults": faults}), "since-incremental")
    [row] = run(spec, observe=observe).rows
    assert row["status"] == "failed" and "gave up after 6 attempts (HTTP 5" in row["error"]
    assert bookmarks[0][0] == bookmarks[0][1] is not None


# -- the matrix --------------------------------------------------------------------------------


def _raw(
    status: str = "ok",
    missed: tuple[int, ...] = (),
    duplicates: int = 0,
    error: str | None = None,
    advanced: bool = True,
) -> dict[str, Any]:
    row = {
        "sync": 0,
        "status": status,
        "error": error,
        "missed": [{"id": c, "reason": "x"} for c in missed],
        "duplicates": duplicates,
        "conversations_expected": 10,
        "conversations_found": 10 - len(missed),
        "retries": 0,
        "rate_limited": 0,
        "api_calls": 5,
        "makespan_s": 1.0,
    }
    check = {"advanced": ["acc-1"] if advanced else [], "behind": list(missed) if advanced else []}
    return {"rows": [row], "checks": [check], "injected": {"x": 1}}


@pytest.mark.parametrize(
    ("kind", "raw", "violations"),
    [
        ("transient", _raw(), []),
        ("transient", _raw(missed=(3,)), ["bookmark advanced past", "missed 1"]),
        ("transient", _raw(duplicates=2), ["wrote 2 record(s) twice"]),
        (
            "transient",
            _raw("failed", error="GET /x: gave up after 6 attempts (HTTP 503)", advanced=False),
            ["did not survive: gave up after 6 attempts (HTTP 503)"],
        ),
        ("permanent", _raw("failed", (3,), error="GET /x answered malformed JSON", advanced=False), []),
        ("permanent", _raw(missed=(3,)), ["bookmark advanced past", "silent loss"]),
        ("permanent", _raw("failed", (3,), error=None, advanced=False), ["failed without a reason"]),
    ],
    ids=[
        "transient-ok",
        "transient-loss",
        "transient-dups",
        "transient-gave-up",
        "permanent-loud",
        "permanent-silent",
        "permanent-mute",
    ],
)
def test_judge_applies_each_class(kind: str, raw: dict[str, Any], violations: list[str]) -> None:
    case = FaultCase("f", kind, "", Faults())  # type: ignore[arg-type]
    cell = judge(case, "s", raw, _raw())
    assert len(cell["violations"]) == len(violations)
    for expected, got in zip(violations, cell["violations"], strict=True):
        assert expected in got
    assert cell["verdict"] == ("ok" if not violations else "violation")


def test_matrix_judges_real_runs(tiny: Scenario) -> None:
    """A ridden-out burst passes as transient; an outage fails loudly, bookmark held, and passes as permanent."""
    cases = [c for c in cases_for(tiny) if c.name in ("5xx-burst", "5xx-outage", "duplicates")]
    matrix = run_matrix(tiny, ["client-filter", "since-incremental"], cases, workers=4, jobs=1)
    assert matrix.violations == 0, [c["violations"] for c in matrix.cells]
    by = {(c["fault"], c["strategy"]): c for c in matrix.cells}
    burst = by[("5xx-burst", "client-filter")]
    assert burst["status"] == "ok" and burst["retries"] > 0 and burst["extra_s"] > 0
    outage = by[("5xx-outage", "since-incremental")]
    assert outage["status"] == "failed" and outage["bookmark"] == "held" and "gave up" in outage["reason"]


def test_matrix_flags_a_transient_fault_without_retries(tiny: Scenario) -> None:
    """With retries off, a transient burst is not survived: that cell is a violation."""
    [case] = [c for c in cases_for(tiny) if c.name == "5xx-burst"]
    matrix = run_matrix(tiny, ["since-incremental"], [case], max_retries=0, jobs=1)
    assert matrix.violations == 1 and matrix.cells[0]["violations"][0].startswith("did not survive")


runner = CliRunner()


def _scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'name = "tiny"\nseed = 7\n'
        "[dataset]\naccounts = 1\nconversations = 25\norphans = 0\nmessages = [1, 3]\nhistory_days = 30\n"
        "[activity]\nactive = 6\nduring_sync = 0\n"
        '[dialect]\npagination = "offset"\npage_size = 10\nmax_page_size = 10\n'
        '[rate_limit]\nalgorithm = "none"\n[latency]\njitter_sigma = 0\n'
    )
    return path


def test_faults_command_writes_deterministic_reports(tmp_path: Path) -> None:
    """`syncbench faults --out` writes faults.json and faults.md (atomically, byte-identical on rerun),
    exits 0 when every cell keeps its class and 1 when one does not."""
    scenario = _scenario_file(tmp_path)
    args = [
        "faults",
        "--scenario",
        str(scenario),
        "--strategies",
        "client-filter,since-incremental",
        "--faults",
        "5xx-burst,truncated-body,5xx-outage",
        "--jobs",
        "1",
    ]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert "5xx-outage" in first.stdout and "gave up after 6 attempts" in first.stdout
    second = runner.invoke(app, [*args, "--json", "--jobs", "2", "--out", str(tmp_path / "b")])
    assert second.exit_code == 0, second.output
    document = json.loads(second.stdout)
    assert document["violations"] == 0 and len(document["cells"]) == 6
    for name in ("faults.json", "faults.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert not list(tmp_path.rglob("*.tmp"))
    failing = runner.invoke(app, [*args, "--max-retries", "0"])
    assert failing.exit_code == 1 and "VIOLATION" in failing.stdout


def test_faults_command_refuses_unknown_faults(tmp_path: Path) -> None:
    result = runner.invoke(app, ["faults", "--faults", "5xx-burst,meteor", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.stderr.startswith("syncbench: error: unknown fault 'meteor'")
    assert not (tmp_path / "o").exists()
