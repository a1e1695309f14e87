"""Reading results back (`load_results`, for `syncbench report`): round trips and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.errors import HarnessError
from bench.render.report import load_results
from bench.results.files import json_text, results_document
from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from strategies import Options


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return run(RunSpec(load_scenario("pms-1000"), "client-filter", "threads", Options(workers=10))).rows


def _document(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return results_document(rows, [load_scenario("pms-1000")])


def test_load_results_round_trips(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    doc = _document(rows)
    (tmp_path / "results.json").write_text(json_text(doc))
    assert load_results(tmp_path / "results.json") == doc
    assert load_results(tmp_path) == doc  # a run folder works too


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no such results document", id="missing"),
        pytest.param(b"{not json", "malformed JSON at line 1 column 2", id="corrupt"),
        pytest.param(b"\xff\xfe\x00garbage", "not UTF-8 text", id="binary"),
        pytest.param(b"", "malformed JSON", id="empty-file"),
        pytest.param([1, 2], "want an object, not a list", id="a-list"),
        pytest.param(lambda d: _without(d, "results"), "results: missing", id="no-results"),
        pytest.param(lambda d: _without(d, "syncbench"), "syncbench: missing", id="no-version"),
        pytest.param(lambda d: dict(d, scenarios=["pms-1000"]), "scenarios: want an object", id="bad-scenarios"),
        pytest.param(lambda d: dict(d, results={"a": 1}), "results: want a list", id="results-not-list"),
        pytest.param(
            lambda d: dict(d, results=[_without(d["results"][0], "strategy")]),
            "results.0.strategy: missing",
            id="row-lacks-key-field",
        ),
        pytest.param(
            lambda d: dict(d, results=[d["results"][0], _without(d["results"][0], "makespan_s")]),
            "results.1.makespan_s: missing",
            id="row-lacks-measure",
        ),
        pytest.param(
            lambda d: dict(d, results=[dict(d["results"][0], missed=[{"id": 1}])]),
            "results.0.missed.0.reason: missing",
            id="bad-missed",
        ),
        pytest.param(lambda d: dict(d, results=["row"]), 'results.0: want an object, not "row"', id="row-not-object"),
    ],
)
def test_load_results_errors(tmp_path: Path, rows: list[dict[str, Any]], content: Any, message: str) -> None:
    path = tmp_path / "results.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif callable(content):
        path.write_text(json.dumps(content(_document(rows[:1]))))
    elif content is not None:
        path.write_text(json.dumps(content))
    with pytest.raises(HarnessError) as caught:
        load_results(path)
    text = str(caught.value)
    assert message in text and str(path) in text
    assert "\n" not in text
