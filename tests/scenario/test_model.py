"""Scenario files: shipped names, paths, seeds, and one-line errors naming the file, the field and the problem."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.scenario.model import SCHEMA_VERSION, ScenarioError, load_scenario, scenario_hash, shipped_scenarios
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
    """More orphans than conversations is refused, naming the field, the other field and the range."""
    message = load_error(write(tmp_path, "[dataset]\nconversations = 10\norphans = 11\n"))
    assert ": dataset.orphans:" in message
    assert "conversations" in message and "(allowed: 0 to 10)" in message


def test_page_size_exceeding_max_page_size(tmp_path: Path) -> None:
    """page_size above max_page_size is refused, naming the field, the other field and the range."""
    message = load_error(write(tmp_path, "[dialect]\npage_size = 200\nmax_page_size = 100\n"))
    assert ": dialect.page_size:" in message
    assert "max_page_size" in message and "(allowed: 1 to 100)" in message


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


# -- bounds: every refusal names the file, the field path and the allowed range ------------

BAD_FIELDS = [
    ("[dataset]\nhistory_days = inf", "dataset.history_days", "finite number"),
    ("[dataset]\nhistory_days = nan", "dataset.history_days", "finite number"),
    ("[dataset]\nconversations = 10000000000000", "dataset.conversations", "<= 1,000,000,000,000"),
    ("[dataset]\nmessages = [1, 10000000000000]", "dataset.messages.1", "<= 1,000,000,000,000"),
    ("[dataset]\nmessages = [5, 1]", "dataset.messages", "1 <= min <= max"),
    ("[activity]\nduring_sync_window_s = [0.5, 1e308]", "activity.during_sync_window_s.1", "<= 86,400"),
    ("[activity]\ncutoff_ago_s = inf", "activity.cutoff_ago_s", "finite number"),
    ("[traps]\nlate_arrival_s = 1e12", "traps.late_arrival_s", "<= 2,592,000"),
    ("[traps]\nclock_skew_s = -inf", "traps.clock_skew_s", ">= 0"),
    ("[rate_limit]\nlimit = 1000000000000000000000000000000", "rate_limit.limit", "<= 1,000,000,000,000"),
    ("[rate_limit]\nwindow_s = 1e18", "rate_limit.window_s", "<= 31,622,400"),
    ("[latency]\nconnect_s = 1e308", "latency.connect_s", "<= 3,600"),
    ("[latency.endpoints]\nmessages = { base_s = inf }", "latency.endpoints.messages.base_s", "finite number"),
    ("[store]\nstatement_s = 1e9", "store.statement_s", "<= 3,600"),
    ("[dialect]\nmax_page_size = 9223372036854775808", "dialect.max_page_size", "<= 100,000"),
    ("[dialect]\ntimestamp_precision = 'us'", "dialect.timestamp_precision", "one of 's', 'ms'"),
    ("[[next_syncs]]\nafter_s = inf", "next_syncs.0.after_s", ">= 3 and <= 31,622,400"),
    ("[[next_syncs]]\nafter_s = 60\nnew_messages = -1", "next_syncs.0.new_messages", ">= 0"),
    ("[faults.storm]\nduration_s = 1e308", "faults: storm.duration_s", "<= 31,622,400"),
    ("[faults.server_errors]\nrate = nan", "faults: server_errors.rate", ">= 0 and <= 1"),
    ("[faults.resets]\nrate = 0.5\nfrom_s = 10\nuntil_s = 5", "faults: resets.until_s", "> 10"),
    ("seed = -1", "seed", ">= 0 and <= 9,223,372,036,854,775,807"),
    ("seed = 1.5", "seed", "an integer"),
    ("start = 0001-01-01T00:00:00Z", "start", "from 1900-01-01 to 2200-01-01"),
    ("start = 9999-12-31T23:59:59Z", "start", "from 1900-01-01 to 2200-01-01"),
    ('name = ""', "name", "text of 1 to 200 characters"),
    ("[dataset]\nbogus = 1", "dataset.bogus", "the fields accounts, conversations"),
    ("rate_limits = []", "rate_limits", "a list of 1 to 100 items"),
    (
        '[literal]\naccounts = ["a"]\nmessages = [{ id = 1, conversationId = 1, sentAt = 0001-01-01T00:00:00Z }]',
        "literal: messages.0.sentAt",
        "from 1900-01-01",
    ),
    ('[literal]\naccounts = ["a"]\nreservations = [{ id = -1, account = "a", updatedOn = 2026-01-01T00:00:00Z }]',
     "literal: reservations.0.id", ">= 0"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "field", "allowed"), BAD_FIELDS, ids=[case[1] for case in BAD_FIELDS])
def test_a_bad_value_is_refused_naming_the_field_and_the_allowed_range(
    tmp_path: Path, text: str, field: str, allowed: str
) -> None:
    """Infinite, huge, negative or mistyped values: `FILE: FIELD: problem (allowed: RANGE)`, at load."""
    message = load_error(write(tmp_path, text + "\n"))
    assert f": {field}: " in message, message
    assert "(allowed: " in message and allowed in message.split("(allowed: ", 1)[1], message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("start = 0000-01-01T00:00:00Z", "malformed TOML"),
        ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply (allowed: 8 levels)"),
        ("x = " + "[" * 50 + "]" * 50, "nested too deeply (allowed: 8 levels)"),
        ("x = " + "{ a = " * 50 + "1" + " }" * 50, "nested too deeply (allowed: 8 levels)"),
    ],
)
def test_a_file_that_cannot_be_parsed_is_one_line_naming_it(tmp_path: Path, text: str, problem: str) -> None:
    """Dates tomllib cannot represent and deep nesting: a named refusal, not a bare ValueError or RecursionError."""
    assert problem in load_error(write(tmp_path, text + "\n"))


def test_every_run_time_overflow_is_refused_at_load(tmp_path: Path) -> None:
    """The largest accepted values still give a world whose times fit a timestamp (no OverflowError later)."""
    path = write(
        tmp_path,
        "start = 2199-12-31T00:00:00Z\n[dataset]\nconversations = 3\nhistory_days = 36500\n"
        "[traps]\nlate_arrival_s = 2592000\nclock_skew_s = 2592000\n"
        "[activity]\nactive = 1\nduring_sync = 2\nduring_sync_window_s = [86400, 86400]\n"
        "[[next_syncs]]\nafter_s = 31622400\nnew_messages = 1\n",
    )
    world = generate(load_scenario(str(path)))
    assert world.timeline().messages


# -- the scenario hash (docs/design.md, Contracts) -----------------------------------------


def test_the_hash_ignores_fields_left_at_their_default(tmp_path: Path) -> None:
    """Spelling out a default (as a new field with a default would be) changes no hash; the seed changes none."""
    plain = load_scenario(str(write(tmp_path, MINIMAL, "a.toml")))
    spelled = load_scenario(str(write(tmp_path, MINIMAL + "\n[traps]\nunsorted = 0\nshort_pages = false\n", "b.toml")))
    assert scenario_hash(plain) == scenario_hash(spelled)
    assert scenario_hash(plain) == scenario_hash(load_scenario(str(tmp_path / "a.toml"), seed=99))
    other = load_scenario(str(write(tmp_path, MINIMAL + "\n[traps]\nunsorted = 1\n", "c.toml")))
    assert scenario_hash(other) != scenario_hash(plain)


def test_the_hash_carries_the_schema_version(tmp_path: Path) -> None:
    """sha256 of the schema version and the dump without defaults and seed: bumping the version changes it."""
    scenario = load_scenario(str(write(tmp_path, MINIMAL, "a.toml")))
    dump = scenario.model_dump_json(exclude={"seed"}, exclude_defaults=True)
    assert '"seed"' not in dump and '"traps"' not in dump
    assert scenario_hash(scenario) == hashlib.sha256(f"{SCHEMA_VERSION}\n{dump}".encode()).hexdigest()[:16]
