"""The measured fields of a failed sync: what it missed, it missed because it failed."""

from __future__ import annotations

from bench.analysis.compare import reason_code
from bench.run.runner import RunSpec, run
from bench.scenario.model import load_scenario
from strategies import Options


def test_a_failed_first_sync_names_the_failure_as_the_reason_of_every_miss() -> None:
    """A first sync has no bookmark: nothing it misses was "older than the bookmark"."""
    spec = RunSpec(load_scenario("inbox-first-sync"), "full-pagination", "async", Options(workers=50, max_retries=0))
    [row] = run(spec).rows
    assert row["status"] == "failed" and row["missed"]
    assert {reason_code(m["reason"]) for m in row["missed"]} == {"sync-failed"}
    assert all(row["error"] in m["reason"] for m in row["missed"])
