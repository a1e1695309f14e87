"""`syncbench gate`: passes on an unchanged tree, names planted regressions, refuses bad baselines in one line.

Most tests use a two-entry baseline recorded once in a temporary folder, and run the gate
in-process (`--jobs 1`) so that regressions planted with monkeypatch reach the runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import bench
from bench.cli.main import app
from bench.studies import gate
from strategies import Call, available

runner = CliRunner()

SMALL_KEYS = [
    {
        "scenario": "pms-1000",
        "strategy": "client-filter",
        "fanout": "threads",
        "workers": 5,
        "account_workers": 1,
        "seed": 1,
        "sync": 0,
        "options": {},
    },
    {
        "scenario": "pms-1000",
        "strategy": "since-incremental",
        "fanout": "async",
        "workers": 5,
        "account_workers": 1,
        "seed": 1,
        "sync": 0,
        "options": {},
    },
]
CLIENT_FILTER = "pms-1000 client-filter threads x5 (seed 1, sync 0)"
SINCE = "pms-1000 since-incremental async x5 (seed 1, sync 0)"
#: the modules that page through listings (each imported `paginate` by name)
PAGING_USERS = ("client_filter", "full_pagination", "reservation_early_stop", "since_incremental", "steps")


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["gate", "--jobs", "1", *args])
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, stderr: str, *, mentions: str) -> None:
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("syncbench: error:"), stderr
    assert mentions in lines[0], stderr


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small baseline: its keys written by hand, its figures recorded by `gate --update`."""
    path = tmp_path_factory.mktemp("recorded") / "baseline.json"
    path.write_text(json.dumps({"entries": [{"key": k} for k in SMALL_KEYS]}), encoding="utf-8")
    code, stdout, stderr = invoke("--update", "--baseline", str(path))
    assert code == 0, stderr
    assert "recorded 2 entries" in stdout
    return path


@pytest.fixture
def baseline(recorded: Path, tmp_path: Path) -> Path:
    """A fresh copy of the small baseline for one test to read or spoil."""
    return Path(shutil.copy(recorded, tmp_path / "baseline.json"))


def edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def costlier_paging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant a regression without touching a source file: every listing page costs one more request."""
    import importlib

    for name in PAGING_USERS:
        module = importlib.import_module(f"strategies.{name}")
        original = module.paginate

        def paginate(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            inner = _original(*args, **kwargs)
            try:
                effect = next(inner)
                while True:
                    if isinstance(effect, Call):
                        yield effect  # the wasted request; its response is dropped
                    effect = inner.send((yield effect))
            except StopIteration as stop:
                return stop.value

        monkeypatch.setattr(module, "paginate", paginate)


def test_recorded_baseline_holds_figures_and_validity(recorded: Path) -> None:
    document = json.loads(recorded.read_text(encoding="utf-8"))
    assert set(document["validity"]) == {"syncbench", "python", "scenarios"}
    assert document["validity"]["syncbench"] == bench.__version__
    assert set(document["validity"]["scenarios"]) == {"pms-1000"}
    assert [e["key"] for e in document["entries"]] == SMALL_KEYS
    for entry in document["entries"]:
        assert {"makespan_s", "api_calls", "rate_limited", "coverage"} <= set(entry)
    assert recorded.read_text(encoding="utf-8") == gate.baseline_text(document)  # sorted keys, stable


def test_unchanged_tree_passes(baseline: Path) -> None:
    code, stdout, stderr = invoke("--baseline", str(baseline))
    assert code == 0, stdout + stderr
    assert stdout.startswith("### syncbench gate: pass")
    assert CLIENT_FILTER in stdout and SINCE in stdout
    assert "| entry | makespan (s) | ratio |" in stdout
    assert "byte-identical" in stdout
    assert "REGRESSION" not in stdout


def test_extra_call_per_page_fails_naming_the_entries(baseline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    costlier_paging(monkeypatch)
    code, stdout, stderr = invoke("--baseline", str(baseline))
    assert code == 1, stdout + stderr
    assert stdout.startswith("### syncbench gate: FAIL: 2 regressions")
    line = next(x for x in stdout.splitlines() if x.startswith(f"| {CLIENT_FILTER} |"))
    assert "REGRESSION" in line and "API calls" in line and "makespan" in line
    assert stderr.splitlines()[-1].startswith("syncbench: gate failed:")
    assert CLIENT_FILTER in stderr and SINCE in stderr


def test_smaller_page_size_fails_only_that_entry(baseline: Path) -> None:
    """An entry whose options now ask for pages of 20 costs more listing calls than its recorded figures."""
    edit(baseline, lambda d: d["entries"][0]["key"]["options"].update(page_size=20))
    code, stdout, stderr = invoke("--baseline", str(baseline))
    assert code == 1, stdout + stderr
    named = "pms-1000 client-filter threads x5 [page_size=20] (seed 1, sync 0)"
    assert f"gate failed: {named}" in stderr
    assert SINCE not in stderr
    table = [x for x in stdout.splitlines() if x.startswith("| ") and not x.startswith("| entry |")]
    assert table[0].startswith(f"| {named} |")  # sorted by ratio, worst first


def test_overrides_in_the_baseline_accept_a_change(baseline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-entry threshold and allow_calls_increase let a known cost through."""
    costlier_paging(monkeypatch)

    def relax(document: dict[str, Any]) -> None:
        for entry in document["entries"]:
            entry.update(threshold=5.0, allow_calls_increase=True)

    edit(baseline, relax)
    code, stdout, stderr = invoke("--baseline", str(baseline))
    assert code == 0, stdout + stderr
    assert "REGRESSION" not in stdout
    line = next(x for x in stdout.splitlines() if x.startswith(f"| {CLIENT_FILTER} |"))
    assert " -> " in line  # the changed figures are still shown, just not failed


def test_update_keeps_overrides_and_floor(recorded: Path) -> None:
    previous = gate.load_baseline(recorded)
    previous.entries[0] = previous.entries[0] | {"threshold": 0.2, "allow_calls_increase": True}
    previous.floor_s = 0.1
    rows = [[e["key"] | {f: e[f] for f in gate.FIGURES} | {"status": "ok"}] for e in previous.entries]
    document = gate.build_baseline(rows, [], previous)
    first, second = document["entries"]
    assert (first["threshold"], first["allow_calls_increase"]) == (0.2, True)
    assert "threshold" not in second and document["floor_s"] == 0.1


def test_non_deterministic_rows_fail(baseline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The determinism entry runs twice; rows differing in any byte fail the gate."""
    calls: list[str] = []
    original = gate._rows

    def drifting(spec: Any) -> list[dict[str, Any]]:
        rows = original(spec)
        calls.append(spec.strategy)
        if calls.count(spec.strategy) == 2:
            rows[0] = rows[0] | {"makespan_s": rows[0]["makespan_s"] + 1e-6}
        return rows

    monkeypatch.setattr(gate, "_rows", drifting)
    code, stdout, stderr = invoke("--baseline", str(baseline))
    assert code == 1, stdout + stderr
    assert "Determinism: FAIL" in stdout and "makespan_s" in stdout
    assert "determinism" in stderr.splitlines()[-1]


def test_summary_is_appended_for_github(baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, stdout, _ = invoke("--baseline", str(baseline))
    assert code == 0
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n### syncbench gate: pass") and CLIENT_FILTER in text


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        pytest.param("{not json", "malformed JSON at line 1", id="malformed"),
        pytest.param('{"entries": []}', "entries: empty", id="no entries"),
        pytest.param("[1, 2]", "want an object, not a list", id="not an object"),
        pytest.param(None, "entries.1.api_calls: missing", id="entry without a figure"),
        pytest.param(b"\xff\xfe\x00", "not UTF-8", id="binary"),
    ],
)
def test_corrupt_baseline_is_one_line(baseline: Path, content: str | bytes | None, mentions: str) -> None:
    if content is None:
        edit(baseline, lambda d: d["entries"][1].pop("api_calls"))
    elif isinstance(content, bytes):
        baseline.write_bytes(content)
    else:
        baseline.write_text(content, encoding="utf-8")
    code, _, stderr = invoke("--baseline", str(baseline))
    assert_one_line_error(code, stderr, mentions=mentions)
    assert f"{baseline}: not a valid baseline: " in stderr


def test_missing_baseline_is_one_line(tmp_path: Path) -> None:
    code, _, stderr = invoke("--baseline", str(tmp_path / "nowhere.json"))
    assert_one_line_error(code, stderr, mentions="syncbench gate --update")


@pytest.mark.parametrize(
    ("field", "value", "mentions"),
    [
        pytest.param("syncbench", "0.0.1", "syncbench '0.0.1'", id="version"),
        pytest.param("python", "2.7", "Python '2.7'", id="python"),
        pytest.param("scenarios", {"pms-1000": "0000000000000000"}, "scenario hashes of pms-1000", id="scenario"),
    ],
)
def test_mismatched_validity_key_asks_for_update(baseline: Path, field: str, value: Any, mentions: str) -> None:
    edit(baseline, lambda d: d["validity"].__setitem__(field, value))
    code, _, stderr = invoke("--baseline", str(baseline))
    assert_one_line_error(code, stderr, mentions="syncbench gate --update")
    assert mentions in stderr


def test_bad_threshold_is_one_line(baseline: Path) -> None:
    code, _, stderr = invoke("--baseline", str(baseline), "--threshold", "5")
    assert_one_line_error(code, stderr, mentions="--threshold must be a share")


def row(makespan: float, calls: int = 10, coverage: float = 1.0, **key: Any) -> dict[str, Any]:
    base = SMALL_KEYS[0] | key
    return base | {
        "makespan_s": makespan,
        "api_calls": calls,
        "rate_limited": 0,
        "coverage": coverage,
        "status": "ok",
        "error": None,
    }


@pytest.mark.parametrize(
    ("base", "now", "result", "regression"),
    [
        pytest.param(row(10.0), row(10.4), "same", False, id="within threshold"),
        pytest.param(row(10.0), row(10.6), "worse", True, id="slower than threshold"),
        pytest.param(row(10.0), row(9.0), "better", False, id="faster"),
        pytest.param(row(0.01), row(0.05), "same", False, id="under the absolute floor"),
        pytest.param(row(10.0), row(10.0, calls=11), "same", True, id="one more call"),
        pytest.param(row(10.0), row(10.0, coverage=0.99), "same", True, id="coverage drop"),
    ],
)
def test_compare_judges_each_figure(base: dict[str, Any], now: dict[str, Any], result: str, regression: bool) -> None:
    entry = {"key": {f: base[f] for f in gate.KEY_FIELDS}} | {f: base[f] for f in gate.FIGURES}
    [verdict] = gate.compare(gate.Baseline(Path("b.json"), [entry], None), [[now]], 0.05)
    assert (verdict.result, verdict.regression) == (result, regression)


def test_compare_sorts_worst_first_and_flags_missing_and_new_rows() -> None:
    entries = [
        {"key": {f: r[f] for f in gate.KEY_FIELDS}} | {f: r[f] for f in gate.FIGURES}
        for r in (row(10.0, workers=1), row(10.0, workers=2), row(10.0, workers=3))
    ]
    rows = [[row(9.0, workers=1)], [row(12.0, workers=2)], [row(5.0, workers=4)]]
    verdicts = gate.compare(gate.Baseline(Path("b.json"), entries, None), rows, 0.05)
    assert [(v.key["workers"], v.result) for v in verdicts] == [(3, "missing"), (4, "new"), (2, "worse"), (1, "better")]
    assert [v.regression for v in verdicts] == [True, True, True, False]


def test_shipped_baseline_is_well_formed() -> None:
    """reports/baseline.json loads strictly and covers every shipped strategy in threads and async."""
    shipped = gate.load_baseline(Path(__file__).parents[2] / "reports" / "baseline.json")
    runs = shipped.runs()
    assert {r.strategy for r in runs} == set(available())
    assert {r.fanout for r in runs} == {"threads", "async"}
    assert len(runs) == len(gate.DEFAULT_MATRIX)
