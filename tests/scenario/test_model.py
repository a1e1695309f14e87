"""Scenario files: shipped names, paths, seeds, and one-line errors naming the file, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.scenario.model import ScenarioError, load_scenario, shipped_scenarios
from bench.world.dataset import generate
from bench.world.records import World

MINIMAL = """
name = "mini"
seed = 3
start = 2026-03-02T09:00:00Z

[dataset]
conversations = 12
messages = [1, 2]

[dialect]
page_size = 5
max_page_size = 5
"""


def fingerprint(world: World) -> list[tuple[int, int | None, list[tuple[int, int]]]]:
    """Everything random about a world: reservations, message ids and send times."""
    return [
        (c.id, c.reservation_id, [(m.id, m.sent_ms) for m in c.messages])
        for c in sorted(world.conversations.values(), key=lambda c: c.id)
    ]


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    """The message of the ScenarioError loading `path` raises, checked to be one line naming the file."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, message
    assert str(path) in message, message
    return message


# -- finding scenarios -----------------------------------------------------------


def test_shipped_scenario_loads_by_name() -> None:
    """`pms-1000` is found by name and carries the study's settings."""
    scenario = load_scenario("pms-1000")
    assert scenario.name == "pms-1000"
    assert scenario.dataset.conversations == 1000
    assert scenario.dialect.page_size == 100
    assert "pms-1000" in shipped_scenarios()


def test_shipped_scenario_loads_by_its_path() -> None:
    """Loading the shipped file by path gives the same scenario as loading it by name."""
    path = shipped_scenarios()["pms-1000"]
    assert load_scenario(str(path)) == load_scenario("pms-1000")


def test_scenario_file_loads_by_path(tmp_path: Path) -> None:
    """A TOML file given by path loads with its own values."""
    scenario = load_scenario(str(write(tmp_path, MINIMAL, "mine.toml")))
    assert (scenario.name, scenario.seed, scenario.dataset.conversations, scenario.dialect.page_size) == (
        "mini",
        3,
        12,
        5,
    )


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    """A file without `name` is named after its file."""
    path = write(tmp_path, MINIMAL.replace('name = "mini"\n', ""), "field-study.toml")
    assert load_scenario(str(path)).name == "field-study"


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    """An unknown name is a one-line ScenarioError that names it and the shipped scenarios."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario("no-such-scenario")
    message = str(caught.value)
    assert "\n" not in message
    assert "no-such-scenario" in message and "pms-1000" in message


def test_missing_scenario_file_is_a_scenario_error(tmp_path: Path) -> None:
    """A .toml path that does not exist is a one-line ScenarioError naming the path."""
    load_error(tmp_path / "absent.toml")


# -- seeds -----------------------------------------------------------------------


def test_seed_argument_overrides_the_file() -> None:
    """load_scenario(name, seed) replaces the file's seed."""
    assert load_scenario("pms-1000").seed == 1
    assert load_scenario("pms-1000", seed=2).seed == 2


def test_same_seed_generates_the_same_world() -> None:
    """Generating a scenario twice with one seed gives the same world."""
    assert fingerprint(generate(load_scenario("pms-1000"))) == fingerprint(generate(load_scenario("pms-1000")))


def test_different_seed_changes_the_world() -> None:
    """Another seed gives another world of the same size."""
    one = fingerprint(generate(load_scenario("pms-1000", seed=1)))
    two = fingerprint(generate(load_scenario("pms-1000", seed=2)))
    assert len(one) == len(two) == 1000
    assert one != two


# -- bad files -------------------------------------------------------------------


def test_malformed_toml(tmp_path: Path) -> None:
    """Broken TOML is refused with the file, 'malformed TOML' and the line of the problem."""
    message = load_error(write(tmp_path, 'name = "x"\n[dataset\nconversations = 3\n'))
    assert "malformed TOML" in message
    assert "line 2" in message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[dataset]\nconversations = 10\nbogus_field = 3\n", "dataset.bogus_field"),
        ("bogus = 1\n", "bogus"),
    ],
)
def test_unknown_field(tmp_path: Path, text: str, field: str) -> None:
    """A field the model does not know is refused, naming it."""
    message = load_error(write(tmp_path, text))
    assert f": {field}:" in message
    assert "not permitted" in message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[dataset]\nconversations = "many"\n', "dataset.conversations"),
        ("[dialect]\nsince = [1]\n", "dialect.since"),
        ('[latency]\nconnect_s = "slow"\n', "latency.connect_s"),
    ],
)
def test_wrong_type(tmp_path: Path, text: str, field: str) -> None:
    """A value of the wrong type is refused, naming the field."""
    message = load_error(write(tmp_path, text))
    assert f": {field}:" in message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[dataset]\nconversations = -5\n", "dataset.conversations"),
        ("[activity]\nactive = -1\n", "activity.active"),
        ("[latency]\nconnect_s = -0.1\n", "latency.connect_s"),
        ("[dialect]\npage_size = 0\n", "dialect.page_size"),
    ],
)
def test_negative_value(tmp_path: Path, text: str, field: str) -> None:
    """A negative (or zero where at least one is needed) value is refused, naming the field and the bound."""
    message = load_error(write(tmp_path, text))
    assert f": {field}:" in message
    assert "greater than" in message


def test_bad_value_in_rate_limit_table_names_rate_limit(tmp_path: Path) -> None:
    """A bad value under [rate_limit] is reported as rate_limit.<field>, as the file spells it."""
    message = load_error(write(tmp_path, "[rate_limit]\nlimit = 5\nwindow_s = -1\n"))
    assert ": rate_limit.window_s:" in message


def test_orphans_exceeding_conversations(tmp_path: Path) -> None:
    """More orphans than conversations is refused, naming the dataset section and both fields."""
    message = load_error(write(tmp_path, "[dataset]\nconversations = 10\norphans = 11\n"))
    assert ": dataset:" in message
    assert "orphans" in message and "conversations" in message


def test_page_size_exceeding_max_page_size(tmp_path: Path) -> None:
    """page_size above max_page_size is refused, naming the dialect section and both fields."""
    message = load_error(write(tmp_path, "[dialect]\npage_size = 200\nmax_page_size = 100\n"))
    assert ": dialect:" in message
    assert "page_size" in message and "max_page_size" in message


def test_both_rate_limit_and_rate_limits(tmp_path: Path) -> None:
    """Giving [rate_limit] and [[rate_limits]] together is refused, naming both."""
    message = load_error(write(tmp_path, "[rate_limit]\nlimit = 5\n\n[[rate_limits]]\nlimit = 6\n"))
    assert "rate_limit " in message and "rate_limits" in message


def test_naive_start_datetime(tmp_path: Path) -> None:
    """A start without a time zone is refused, naming `start`."""
    message = load_error(write(tmp_path, "start = 2026-03-02T09:00:00\n"))
    assert ": start:" in message
    assert "time zone" in message


def test_several_problems_still_give_one_line(tmp_path: Path) -> None:
    """A file with two bad fields gets one line: the first problem and how many more there are."""
    message = load_error(write(tmp_path, "[dataset]\nconversations = -1\nhistory_days = 0\n"))
    assert ": dataset.conversations:" in message
    assert "(and 1 more)" in message


def test_history_shorter_than_the_cutoff_is_refused_at_load(tmp_path: Path) -> None:
    """A history too short to hold the records before the cutoff is refused when loading, naming history_days."""
    path = write(tmp_path, "[dataset]\nconversations = 5\nhistory_days = 1\n")
    try:
        generate(load_scenario(str(path)))
    except ScenarioError as error:
        message = str(error)
    else:
        message = "loaded and generated"
    assert "history_days" in message and str(path) in message
