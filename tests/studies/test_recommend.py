"""`syncbench recommend`: the rule that picks a worker default, its reason, the ceiling, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.errors import HarnessError
from bench.scenario.model import Scenario
from bench.studies.recommend import Point, parse_share, points_from_rows, rate_limit_ceiling, recommend

runner = CliRunner()

#: a small world whose limit (20 calls/s) a handful of workers reach: fast to run, and throttling shows
SMALL_TOML = """
name = "small-fanout"
seed = 3
[dataset]
accounts = 1
conversations = 120
orphans = 0
messages = [1, 4]
history_days = 30
[activity]
cutoff_ago_s = 3600
active = 40
[dialect]
pagination = "offset"
page_size = 50
max_page_size = 50
[rate_limit]
algorithm = "fixed-window"
scope = "account"
limit = 20
window_s = 1.0
[latency]
jitter_sigma = 0.1
"""


def point(
    workers: int, makespan: float, calls: int = 100, throttled: int = 0, missed: int = 0, status: str = "ok"
) -> Point:
    return Point(workers, status, makespan, calls, throttled, missed, throttled / calls, (calls - throttled) / makespan)


CURVE = [
    point(1, 40.0),
    point(2, 21.0),
    point(4, 11.0),
    point(8, 6.2),
    point(12, 5.1),
    point(16, 5.0),
    point(24, 4.9, calls=110, throttled=10),
]


@pytest.mark.parametrize(
    ("points", "margin", "cap", "chosen", "best"),
    [
        pytest.param(CURVE, 0.05, 0.01, 12, 16, id="smallest within 5% of the best"),
        pytest.param(CURVE, 0.0, 0.01, 16, 16, id="no margin: the best itself"),
        pytest.param(CURVE, 0.25, 0.01, 8, 16, id="wide margin: fewer workers"),
        pytest.param(CURVE, 0.05, 0.10, 12, 24, id="a looser cap lets the throttled run be the best"),
        pytest.param(
            [point(1, 10.0), point(2, 6.0, missed=1), point(4, 5.0)],
            0.5,
            0.01,
            4,
            4,
            id="a run with misses never qualifies",
        ),
        pytest.param(
            [point(1, 10.0), point(2, 5.0, status="failed"), point(4, 5.2)],
            0.05,
            0.01,
            4,
            4,
            id="a failed run never qualifies",
        ),
    ],
)
def test_recommend_rule(points: list[Point], margin: float, cap: float, chosen: int, best: int) -> None:
    """The fewest qualifying workers within the margin of the best qualifying time."""
    result = recommend(points, margin=margin, max_throttled=cap)
    assert (result.recommended_workers, result.best_workers) == (chosen, best)
    assert result.reason.startswith(f"{chosen} workers: ")
    if chosen != best:
        assert f"best time at {best}" in result.reason


def test_reason_is_built_from_the_figures() -> None:
    """The sentence names the choice, its distance from the best, misses, throttling and where the limit binds."""
    result = recommend(CURVE, margin=0.05, max_throttled=0.01)
    assert result.reason == (
        "12 workers: within 2% of the best time at 16 (5.10 s vs 5.00 s), no misses, no calls throttled;"
        " beyond 16 workers the rate limit binds (24 workers: 10 of 110 calls throttled);"
        " the fastest run, 24 workers at 4.90 s, did not qualify (9.1% throttled)"
    )


def test_no_qualifying_count_says_why() -> None:
    points = [point(1, 10.0, throttled=5), point(2, 6.0, missed=2), point(4, 4.0, status="failed")]
    result = recommend(points, margin=0.05, max_throttled=0.01)
    assert result.recommended_workers is None
    assert result.reason.startswith("no worker count qualifies")
    assert "1: 5% throttled" in result.reason and "2: missed 2" in result.reason and "4: failed" in result.reason


def test_too_few_counts_give_a_choice_but_no_fit() -> None:
    result = recommend(CURVE[:2], margin=0.05, max_throttled=0.01)
    assert result.recommended_workers == 2 and result.usl is None
    assert "three or more" in (result.usl_error or "")


def test_recommend_is_pure() -> None:
    points = list(reversed(CURVE))
    first = recommend(points, margin=0.05, max_throttled=0.01)
    assert points == list(reversed(CURVE))
    assert recommend(CURVE, margin=0.05, max_throttled=0.01) == first


def test_points_sum_the_syncs_of_a_run() -> None:
    rows = [
        {
            "workers": 4,
            "status": "ok",
            "makespan_s": 2.0,
            "api_calls": 30,
            "rate_limited": 2,
            "conversations_missed": 0,
        },
        {
            "workers": 4,
            "status": "ok",
            "makespan_s": 0.5,
            "api_calls": 10,
            "rate_limited": 0,
            "conversations_missed": 1,
        },
        {
            "workers": 1,
            "status": "failed",
            "makespan_s": 9.0,
            "api_calls": 40,
            "rate_limited": 0,
            "conversations_missed": 0,
        },
    ]
    one, four = points_from_rows(rows)
    assert (one.workers, one.status) == (1, "failed")
    assert (four.makespan_s, four.api_calls, four.rate_limited, four.conversations_missed) == (2.5, 40, 2, 1)
    assert four.throttled_share == 0.05 and four.throughput == pytest.approx(38 / 2.5)


@pytest.mark.parametrize(
    ("limits", "accounts", "account_workers", "expected"),
    [
        pytest.param([{"limit": 40, "window_s": 1.0}], 1, 1, (40.0, "account"), id="one limit"),
        pytest.param(
            [{"limit": 40, "window_s": 1.0}, {"limit": 600, "window_s": 60.0, "scope": "key"}],
            1,
            1,
            (10.0, "key"),
            id="the tightest limit wins",
        ),
        pytest.param([{"limit": 30, "window_s": 1.0}], 5, 3, (90.0, "account"), id="per account, accounts at once"),
        pytest.param([{"algorithm": "none"}], 1, 1, None, id="no limit"),
    ],
)
def test_rate_limit_ceiling(
    make_scenario, limits: list[dict], accounts: int, account_workers: int, expected: tuple[float, str] | None
) -> None:
    tiny: Scenario = make_scenario(dataset={"accounts": accounts})
    scenario = Scenario.model_validate(tiny.model_dump() | {"rate_limits": limits})
    ceiling = rate_limit_ceiling(scenario, account_workers)
    assert (None if ceiling is None else (ceiling.calls_per_s, ceiling.scope)) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("5%", 0.05, id="percent"),
        pytest.param("0.05", 0.05, id="fraction"),
        pytest.param("0%", 0.0, id="zero"),
        pytest.param(" 12.5% ", 0.125, id="spaces"),
    ],
)
def test_parse_share(text: str, value: float) -> None:
    assert parse_share(text, "margin") == pytest.approx(value)


@pytest.mark.parametrize("text", ["5", "-1%", "five", "", "nan"])
def test_parse_share_refuses(text: str) -> None:
    with pytest.raises(HarnessError, match="--margin must be a share"):
        parse_share(text, "margin")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "small.toml"
    path.write_text(SMALL_TOML, encoding="utf-8")
    return path


def test_command_picks_a_count_and_names_it(small: Path, tmp_path: Path) -> None:
    """On a small in-code scenario: a recommendation that follows the rule, a reason naming it, USL figures, files."""
    out = tmp_path / "rec"
    args = [
        "recommend",
        "--scenario",
        str(small),
        "--strategy",
        "since-incremental",
        "--workers",
        "1,2,4,8,16",
        "--json",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    chosen = document["recommended_workers"]
    points = {p["workers"]: p for p in document["points"]}
    assert chosen in points and points[chosen]["qualifies"]
    assert document["reason"].startswith(f"{chosen} workers: ")
    best = min((p for p in points.values() if p["qualifies"]), key=lambda p: p["makespan_s"])
    assert points[chosen]["makespan_s"] <= best["makespan_s"] * 1.05
    assert all(
        points[n]["makespan_s"] > best["makespan_s"] * 1.05 for n in points if n < chosen and points[n]["qualifies"]
    )
    usl = document["usl"]
    assert usl["rate_limit_ceiling"] == 20.0 and usl["throughput"].startswith("successful API calls")
    assert {"lambda", "sigma", "kappa", "peak_workers", "knee_workers"} <= set(usl)
    saved = json.loads((out / "recommend.json").read_text(encoding="utf-8"))
    assert saved["recommended_workers"] == chosen and saved["settings"]["scenario"] == "small-fanout"
    png = (out / "recommend.png").read_bytes()
    assert png.startswith(b"\x89PNG")

    again = runner.invoke(app, [*args[:-2], "--out", str(tmp_path / "again"), "--jobs", "1"])
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "again" / "recommend.json").read_bytes() == (out / "recommend.json").read_bytes()
    assert (tmp_path / "again" / "recommend.png").read_bytes() == png


def test_command_text_output_prints_the_reason(small: Path) -> None:
    result = runner.invoke(
        app,
        ["recommend", "--scenario", str(small), "--strategy", "since-incremental", "--workers", "1,4,8", "--jobs", "1"],
    )
    assert result.exit_code == 0, result.stderr
    assert "recommended: " in result.stdout and "USL fit of successful API calls" in result.stdout
    assert "Rate-limit ceiling: 20 calls/s" in result.stdout


def test_command_exits_1_when_nothing_qualifies(small: Path) -> None:
    """A cap no count meets (every count throttles under a 1-per-second limit): say so, exit 1."""
    tight = small.with_name("tight.toml")
    tight.write_text(SMALL_TOML.replace("limit = 20", "limit = 1"), encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "recommend",
            "--scenario",
            str(tight),
            "--strategy",
            "since-incremental",
            "--workers",
            "1,2,4",
            "--max-throttled",
            "0%",
            "--json",
            "--jobs",
            "1",
        ],
    )
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["recommended_workers"] is None
    assert document["reason"].startswith("no worker count qualifies")


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        pytest.param(["--fanout", "sequential"], "--fanout threads", id="sequential"),
        pytest.param(["--margin", "5"], "--margin must be a share", id="ambiguous margin"),
        pytest.param(["--workers", "4,0"], "--workers must be positive", id="zero workers"),
        pytest.param(["--workers", "4,4"], "lists a value twice", id="duplicate workers"),
    ],
)
def test_command_bad_input_is_one_line(args: list[str], mentions: str) -> None:
    result = runner.invoke(app, ["recommend", "--scenario", "pms-1000", "--strategy", "client-filter", *args])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("syncbench: error:") and mentions in lines[0], result.stderr
