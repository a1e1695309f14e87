"""Every command takes exactly the shared options docs/design.md's "Options by command" says,
with the defaults of `strategies.Options()`; `run --cassette` refuses what a recording fixes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.cli import app
from strategies import Options
from tests.cli.options_table import OptionsTable, commands, read_table

TABLE = read_table()
COMMANDS = commands()
CASSETTE = Path(str(resources.files("bench.fixtures").joinpath("cassettes", "tiny-cursor.json")))
#: run settings by the command-line parameter that sets them
SETTINGS = {name: name for name in Options.__dataclass_fields__} | {"lookback": "lookback_s"}
runner = CliRunner()


def _params(command: str) -> dict[str, Any]:
    """A command's options by flag."""
    return {flag: p for p in COMMANDS[command].params for flag in (*p.opts, *p.secondary_opts)}


def test_the_table_reader_sees_what_the_table_claims() -> None:
    """A row of the table is read as the flags and cells it spells (the reader itself can be wrong)."""
    text = (
        "### Options by command\n\n| option | run | sweep |\n|---|---|---|\n"
        "| `--seed N` (list: `--seeds 1,2`) | yes | list |\n| `--lookback S` | no (a) | yes |\n\n"
        "- (a) why\n\n| command | why |\n|---|---|\n| gate | its baseline |\n\n### Next\n| x | y |\n"
    )
    table = read_table(text)
    assert [(o.flag, o.list_flag, o.has_list) for o in table.options] == [
        ("--seed", "--seeds", True),
        ("--lookback", "--lookback", False),
    ]
    assert table.expected("run") == {"--seed"} and table.expected("sweep") == {"--seeds", "--lookback"}
    assert table.notes == {"a"} and table.takes_none == {"gate"}


def test_every_command_is_in_the_table_once() -> None:
    """A new command joins the table (or the list of commands that take none) to pass."""
    listed = {c.split()[0] for c in TABLE.takes}
    assert listed | TABLE.takes_none == set(COMMANDS)
    assert not listed & TABLE.takes_none


@pytest.mark.parametrize("command", [c for c in TABLE.takes if " " not in c])
def test_a_command_takes_the_shared_options_the_table_lists(command: str) -> None:
    """Both ways: an option the table claims is missing fails; a shared option the table does not list fails."""
    params = _params(command)
    expected = TABLE.expected(command)
    found = set(params) & TABLE.flags()
    assert found == expected, (
        f"`{command}` lacks {sorted(expected - found)}; the table omits {sorted(found - expected)}"
    )
    for option in TABLE.options:
        cell = TABLE.takes[command][option.flag]
        if option.has_list and option.flag == option.list_flag and cell in ("yes", "list"):
            is_text = params[option.flag].bare_type() == "str"
            assert is_text == (cell == "list"), f"`{command} {option.flag}` is {'not ' * is_text}a comma list"


@pytest.mark.parametrize("command", sorted(TABLE.takes_none))
def test_a_command_listed_as_taking_none_takes_none(command: str) -> None:
    assert not set(_params(command)) & TABLE.flags()


def test_every_absence_has_its_reason() -> None:
    cells = {cell for column in TABLE.takes.values() for cell in column.values()}
    assert cells <= {"yes", "list"} | {f"no ({n})" for n in TABLE.notes}, cells


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_run_settings_default_to_those_of_options(command: str) -> None:
    """Every run setting a command takes defaults to `strategies.Options()`'s (workers: commands with one run)."""
    defaults = Options()
    for param in COMMANDS[command].params:
        if (
            param.name in SETTINGS
            and param.bare_type() != "str"
            and not (param.name == "workers" and command in ("faults", "scale"))
        ):
            assert param.default == getattr(defaults, SETTINGS[param.name]), f"{command} {param.opts[0]}"


def _no_cells(table: OptionsTable, command: str) -> list[str]:
    return [o.flag for o in table.options if table.takes[command][o.flag].startswith("no")]


@pytest.mark.parametrize("flag", _no_cells(TABLE, "run --cassette"))
def test_run_cassette_refuses_what_the_recording_fixes(flag: str) -> None:
    """`run --cassette` with an option the table says it lacks: exit 2, one line naming the option."""
    value = {"--scenario": "pms-1000", "--seed": "1", "--max-world-mib": "100"}[flag]
    result = runner.invoke(app, ["run", "--cassette", str(CASSETTE), flag, value])
    lines = result.stderr.splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and flag in lines[0], result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_works(command: str) -> None:
    """`syncbench COMMAND --help` prints the usage and every option's help, exit 0."""
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ") and f" {command} " in result.stdout.splitlines()[0]
    for flag in _params(command):
        if flag != "--help":
            assert flag in result.stdout, flag
