"""One loader for every JSON document syncbench reads back: a problem is one line naming the file and the field.

Each document type is spoiled the way a hand edit or another version would spoil it, and
the error must name the file, the field (pydantic's dotted location) and the problem; what
validates is handed on exactly as written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.cli.main import app
from bench.errors import HarnessError
from bench.measure.row import KEY_FIELDS, MEASURED_FIELDS, Row
from bench.recordings.cassette import load_cassette
from bench.render.report import load_results
from bench.results.documents import ResultsDocument, load_document
from bench.results.files import json_text, results_document
from bench.run.runner import RunSpec, run
from bench.run.sweep import SweepPlan, finished_runs, load_manifest
from bench.scenario.model import Scenario, scenario_hash
from bench.studies.gate import load_baseline
from bench.studies.scale import load_study
from strategies import Options

REPO = Path(__file__).parents[2]
CASSETTE = Path(str(resources.files("bench.fixtures").joinpath("cassettes"))) / "tiny-cursor.json"


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return Scenario.model_validate(
        {
            "name": "tiny",
            "seed": 7,
            "dataset": {"accounts": 1, "conversations": 12, "orphans": 0, "messages": [1, 2], "history_days": 30},
            "activity": {"cutoff_ago_s": 86400, "active": 0, "during_sync": 0},
            "dialect": {"pagination": "offset", "page_size": 10, "max_page_size": 10, "timestamp_precision": "s"},
            "rate_limit": {"algorithm": "none"},
            "latency": {"jitter_sigma": 0},
        }
    )


@pytest.fixture(scope="module")
def spec(tiny: Scenario) -> RunSpec:
    return RunSpec(tiny, "client-filter", "threads", Options(workers=2))


@pytest.fixture(scope="module")
def document(spec: RunSpec) -> dict[str, Any]:
    return results_document(run(spec).rows, [spec.scenario])


def _error(call: Callable[[], object]) -> str:
    with pytest.raises(HarnessError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def _write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# --- one error line per document type ----------------------------------------------------------


def test_a_results_row_without_its_strategy(tmp_path: Path, document: dict[str, Any]) -> None:
    row = {k: v for k, v in document["results"][0].items() if k != "strategy"}
    path = _write(tmp_path / "results.json", document | {"results": [document["results"][0], row]})
    assert _error(lambda: load_results(tmp_path)) == (
        f"{path}: not a valid results document: results.1.strategy: missing"
    )


def test_a_baseline_with_a_threshold_that_is_not_a_fraction(tmp_path: Path) -> None:
    baseline = json.loads((REPO / "reports" / "baseline.json").read_text(encoding="utf-8"))
    baseline["entries"][2]["threshold"] = 150
    path = _write(tmp_path / "baseline.json", baseline)
    for strict in (True, False):  # `gate --update` refuses it too
        assert _error(partial(load_baseline, path, strict=strict)) == (
            f"{path}: not a valid baseline: entries.2.threshold: must be a fraction such as 0.1, not 150"
        )


def test_a_manifest_from_another_version(tmp_path: Path) -> None:
    manifest = SweepPlan("pms-1000", ("client-filter",), ("threads",), (2,)).manifest()
    path = _write(tmp_path / "manifest.json", manifest | {"syncbench": "0.0.1"})
    message = _error(lambda: load_manifest(tmp_path))
    assert message.startswith(f"{path}: not a valid sweep manifest: syncbench: written by syncbench 0.0.1, this is ")
    assert message.endswith("; run the sweep again with --force")
    _write(path, manifest | {"options": manifest["options"] | {"workerz": 3}})
    assert _error(lambda: load_manifest(tmp_path)).endswith("options.workerz: not a field syncbench knows")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"lookback_s": float("inf")}, "lookback_s must be between 0 and 1e+09, not inf", id="inf"),
        pytest.param({"lookback_s": float("nan")}, "lookback_s must be between 0 and 1e+09, not nan", id="nan"),
        pytest.param({"lookback_s": 1e300}, "lookback_s must be between 0 and 1e+09, not 1e+300", id="huge"),
        pytest.param({"lookback_s": -5.0}, "lookback_s must be between 0 and 1e+09, not -5.0", id="negative"),
        pytest.param({"max_retries": -1}, "max_retries must be at least 0, not -1", id="retries"),
        pytest.param({"page_size": 0}, "page_size must be at least 1, not 0", id="page-size"),
        pytest.param({"lookback_s": "5" * 1000}, 'options.lookback_s: want a number, not "555', id="a-long-string"),
        pytest.param({"max_retries": 2.5}, "options.max_retries: want an integer, not 2.5", id="float-retries"),
    ],
)
def test_a_manifest_with_settings_out_of_bounds(tmp_path: Path, options: dict[str, Any], problem: str) -> None:
    """Wrong types and out-of-range settings are refused naming the setting, in one short line."""
    manifest = SweepPlan("pms-1000", ("client-filter",), ("threads",), (2,)).manifest()
    path = _write(tmp_path / "manifest.json", manifest | {"options": manifest["options"] | options})
    message = _error(lambda: load_manifest(tmp_path))
    assert message.startswith(f"{path}: not a valid sweep manifest: options") and problem in message, message
    assert len(message) < 200, message


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"max_retries": -1}, "max_retries must be at least 0, not -1", id="retries-negative"),
        pytest.param({"lookback_s": "5"}, 'options.lookback_s: want a number, not "5"', id="lookback-string"),
        pytest.param({"lookback_s": "5" * 1000}, 'options.lookback_s: want a number, not "555', id="long-string"),
        pytest.param({"lookback_s": float("inf")}, "lookback_s must be between 0 and 1e+09, not inf", id="inf"),
        pytest.param({"page_size": True}, "options.page_size: want an integer, not true", id="page-size-bool"),
        pytest.param({"workers": 3}, "workers belongs in the key itself", id="workers-in-options"),
    ],
)
def test_a_baseline_entry_with_bad_settings(tmp_path: Path, options: dict[str, Any], problem: str) -> None:
    """Gate entries' options are typed and bounded like every other source of run settings."""
    baseline = json.loads((REPO / "reports" / "baseline.json").read_text(encoding="utf-8"))
    baseline["entries"][1]["key"]["options"] = options
    path = _write(tmp_path / "baseline.json", baseline)
    for strict in (True, False):
        message = _error(partial(load_baseline, path, strict=strict))
        assert message.startswith(f"{path}: not a valid baseline: entries.1.key.options") and problem in message
        assert len(message) < 200, message


def test_a_draft_baseline_entry_may_leave_out_its_seed_and_options(tmp_path: Path) -> None:
    """`gate --update` takes a key without `seed` (the scenario's own) or `options` (none): it once
    ended in an internal KeyError."""
    key = {"scenario": "pms-1000", "strategy": "client-filter", "fanout": "threads", "workers": 2}
    path = _write(tmp_path / "baseline.json", {"entries": [{"key": key | {"account_workers": 1, "sync": 0}}]})
    (run_,) = load_baseline(path, strict=False).runs()
    assert (run_.seed, run_.options, run_.workers) == (None, {}, 2)


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        pytest.param({"makespan_s": float("nan")}, "makespan_s: want a finite number, not NaN", id="nan"),
        pytest.param({"phase_seconds": {"list": float("inf")}}, "phase_seconds.list: want a finite", id="inf-in-a-map"),
        pytest.param({"api_calls": "12"}, 'results.0.api_calls: want an integer, not "12"', id="string-count"),
        pytest.param({"coverage": [1]}, "results.0.coverage", id="list-coverage"),
    ],
)
def test_syncbench_report_refuses_rows_of_the_wrong_type_or_nan(
    tmp_path: Path, document: dict[str, Any], spoil: dict[str, Any], problem: str
) -> None:
    path = _write(tmp_path / "results.json", document | {"results": [document["results"][0] | spoil]})
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"syncbench: error: {path}: not a valid results document: results.0")
    assert problem in lines[0], lines[0]
    assert not (tmp_path / "report.md").exists()


def test_a_cassette_whose_metadata_lacks_the_strategy(tmp_path: Path) -> None:
    cassette = json.loads(CASSETTE.read_text(encoding="utf-8"))
    del cassette["metadata"]["syncbench"]["strategy"]
    path = _write(tmp_path / "c.json", cassette)
    assert _error(lambda: load_cassette(path)) == f"{path}: not a valid cassette: metadata.syncbench.strategy: missing"


def test_syncbench_report_on_a_broken_results_json_is_one_line_exit_2(tmp_path: Path, document: dict[str, Any]) -> None:
    spoiled = dict(document["results"][0], workers=True)
    path = _write(tmp_path / "results.json", document | {"results": [spoiled]})
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"syncbench: error: {path}: not a valid results document: results.0.workers: want an integer, not true\n"
    )
    assert not (tmp_path / "report.md").exists()


# --- what every document shares ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(None, "no such results document", id="missing"),
        pytest.param(b"\xff\xfe\x00", "not a valid results document: not UTF-8 text", id="binary"),
        pytest.param(b'{"syncbench": "0.1.0",', "not a valid results document: malformed JSON at line 1", id="cut"),
        pytest.param(b"[]", "not a valid results document: want an object, not a list", id="a-list"),
        pytest.param(
            b'{"syncbench": "0.1.0", "scenarios": {}, "results": [], "host": {}}',
            "not a valid results document: host: not a field syncbench knows",
            id="unknown-field",
        ),
        pytest.param(
            b'{"syncbench": 1, "scenarios": {}, "results": []}',
            "not a valid results document: syncbench: want a string, not 1",
            id="wrong-type",
        ),
    ],
)
def test_every_problem_names_the_file(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_bytes(content)
    assert _error(lambda: load_document(path, ResultsDocument, what="results document")).startswith(
        f"{path}: {problem}"
    )


def test_a_folder_is_not_a_document(tmp_path: Path) -> None:
    message = _error(lambda: load_document(tmp_path, ResultsDocument, what="results document"))
    assert message == f"{tmp_path}: is a folder, not a results document file"


def test_rows_are_handed_on_exactly_as_written(tmp_path: Path, document: dict[str, Any]) -> None:
    """Key order and fields the model does not name survive a read, so a rewrite is byte-identical."""
    row = {"note": "kept", **dict(reversed(document["results"][0].items()))}
    text = json_text(document | {"results": [row]})
    (tmp_path / "results.json").write_text(text, encoding="utf-8")
    assert json_text(load_results(tmp_path)) == text


def test_the_row_contract_requires_every_key_and_measured_field() -> None:
    assert set(Row.__required_keys__) == {*KEY_FIELDS, *MEASURED_FIELDS}


def test_measure_gives_the_measured_fields_in_the_contract_s_order(spec: RunSpec) -> None:
    row = run(spec).rows[0]
    assert list(row) == [*KEY_FIELDS, *MEASURED_FIELDS]


# --- readers that skip what they cannot use --------------------------------------------------------


def test_a_saved_run_of_another_spec_is_run_again(tmp_path: Path, spec: RunSpec, document: dict[str, Any]) -> None:
    (tmp_path / "runs").mkdir()
    saved = {"key": spec.key(0), "scenario_hash": scenario_hash(spec.scenario), "rows": document["results"]}
    _write(tmp_path / "runs" / "0000.json", saved)
    assert finished_runs(tmp_path, [spec]) == {0: document["results"]}
    _write(tmp_path / "runs" / "0000.json", saved | {"scenario_hash": "0" * 16})
    assert finished_runs(tmp_path, [spec]) == {}


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        pytest.param(lambda saved: [], "want an object", id="a-list"),
        pytest.param(lambda saved: {k: v for k, v in saved.items() if k != "rows"}, "rows: missing", id="no-rows"),
        pytest.param(lambda saved: saved | {"rows": ["a row"]}, "rows.0: want an object", id="string-rows"),
        pytest.param(lambda saved: saved | {"rows": []}, "rows: empty", id="no-row"),
        pytest.param(
            lambda saved: saved | {"rows": [{k: v for k, v in saved["rows"][0].items() if k != "strategy"}]},
            "rows.0.strategy: missing",
            id="row-without-strategy",
        ),
        pytest.param(lambda saved: '{"key": ', "malformed JSON", id="cut-short"),
    ],
)
def test_a_spoiled_saved_run_is_refused_naming_it(
    tmp_path: Path, spec: RunSpec, document: dict[str, Any], spoil: Any, problem: str
) -> None:
    """A run file that is not a saved run (edited by hand, or not syncbench's) is named in one line, not
    silently run again or, with `rows: []`, taken as a run that gave no rows."""
    (tmp_path / "runs").mkdir()
    saved = {"key": spec.key(0), "scenario_hash": scenario_hash(spec.scenario), "rows": document["results"]}
    spoiled = spoil(saved)
    path = tmp_path / "runs" / "0000.json"
    if isinstance(spoiled, str):
        path.write_text(spoiled, encoding="utf-8")
    else:
        _write(path, spoiled)
    with pytest.raises(HarnessError, match="not a valid saved run") as caught:
        finished_runs(tmp_path, [spec])
    message = str(caught.value)
    assert str(path) in message and problem in message and "\n" not in message, message


def test_a_broken_scaling_study_is_left_out(tmp_path: Path) -> None:
    point = {
        "size": 100,
        "strategy": "client-filter",
        "host_seconds": 0.5,
        "peak_mib": 80.0,
        "makespan_s": 12,
        "api_calls": 40,
        "coverage": 1.0,
        "status": "ok",
    }
    _write(tmp_path / "scaling.json", {"title": "t", "points": [point]})
    study = load_study(tmp_path)
    assert study is not None and study[1] == "t" and study[0][0].makespan_s == 12
    _write(tmp_path / "scaling.json", {"title": "t", "points": [point | {"api_calls": "40"}]})
    assert load_study(tmp_path) is None
    assert load_study(tmp_path / "elsewhere") is None
