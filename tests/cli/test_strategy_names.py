"""One check of a strategy name (`strategies.resolve`): every command, a sweep's plan and the gate's
baseline refuse an unknown name with the same words."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import strategies.registry
from bench.cli import app
from bench.errors import HarnessError
from bench.run.sweep import SweepPlan
from bench.studies.gate import GateRun
from strategies import UnknownStrategy, available, resolve
from tests.cli.options_table import read_table

UNKNOWN = "unknown strategy 'no-such-strategy' (available: " + ", ".join(available()) + ")"
#: what else each command needs before it looks at the strategy
REQUIRED = {
    "recommend": ["--scenario", "pms-1000"],
    "record": ["--base-url", "http://127.0.0.1:9", "--out", "c.json"],
    "sweep": ["--out", "out"],
    "scale": ["--out", "out"],
}


def test_names_are_checked_and_kept_in_order() -> None:
    assert resolve(["since-incremental", "client-filter"]) == ["since-incremental", "client-filter"]
    with pytest.raises(UnknownStrategy, match="^" + UNKNOWN.replace("(", r"\(").replace(")", r"\)") + "$"):
        resolve(["client-filter", "no-such-strategy"])


def test_all_is_every_installed_strategy_only_where_allowed_and_only_alone() -> None:
    assert resolve(["all"], allow_all=True) == list(available())
    with pytest.raises(UnknownStrategy, match="unknown strategy 'all'"):
        resolve(["all"])
    with pytest.raises(UnknownStrategy, match="give it alone"):
        resolve(["all", "client-filter"], allow_all=True)


def test_built_in_names_need_no_scan_of_the_installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(**kwargs: object) -> list[object]:
        raise AssertionError("scanned the installed plugins")

    monkeypatch.setattr(strategies.registry, "entry_points", no_scan)
    assert resolve(["full-pagination", "reservation-early-stop"]) == ["full-pagination", "reservation-early-stop"]


def _strategy_flags() -> list[tuple[str, str]]:
    table = read_table()
    return [
        (command, option.flag if cells[option.flag] == "yes" else option.list_flag)
        for command, cells in table.takes.items()
        for option in table.options
        if option.flag == "--strategy" and cells[option.flag] in ("yes", "list")
    ]


@pytest.mark.parametrize(("command", "flag"), _strategy_flags(), ids=lambda v: v)
def test_every_command_refuses_an_unknown_strategy_in_the_same_words(
    command: str, flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    words = command.split()
    extra = ["--cassette", "c.json"] if words[1:] == ["--cassette"] else []
    result = CliRunner().invoke(app, [words[0], *extra, *REQUIRED.get(words[0], []), flag, "no-such-strategy"])
    assert result.exit_code == 2 and result.stderr == f"syncbench: error: {UNKNOWN}\n", result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_plan_and_a_gate_baseline_use_the_same_check() -> None:
    with pytest.raises(UnknownStrategy, match="no-such-strategy"):
        SweepPlan(scenario="pms-1000", strategies=("no-such-strategy",), fanouts=("threads",), workers=(1,))
    with pytest.raises(HarnessError) as refused:
        GateRun("pms-1000", "no-such-strategy", "threads", 1).spec()
    assert str(refused.value) == f"baseline entry pms-1000 no-such-strategy: {UNKNOWN}"
