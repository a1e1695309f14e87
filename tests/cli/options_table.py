"""docs/design.md's "Options by command" table, read so that tests can hold the commands to it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import typer

from bench.cli import app

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"
SECTION = "### Options by command"


@dataclass(frozen=True)
class SharedOption:
    flag: str  # `--strategy`
    list_flag: str  # `--strategies`; the same flag when only the value differs (`--workers 1,5`)
    has_list: bool  # whether the table gives a comma-list form at all


@dataclass(frozen=True)
class OptionsTable:
    options: list[SharedOption]
    #: command (`run`, `run --cassette`, ...) -> option flag -> "yes" | "list" | "no (x)"
    takes: dict[str, dict[str, str]]
    notes: set[str]
    takes_none: set[str]

    def flags(self) -> set[str]:
        """Every spelling of every shared option."""
        return {f for o in self.options for f in (o.flag, o.list_flag)}

    def expected(self, command: str) -> set[str]:
        """The shared flags the table says `command` takes."""
        out = set()
        for option in self.options:
            cell = self.takes[command][option.flag]
            if cell == "yes":
                out.add(option.flag)
            elif cell == "list":
                out.add(option.list_flag)
        return out


def _cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _tables(lines: list[str]) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                current.append(_cells(line))
        elif current:
            tables.append(current)
            current = []
    return tables


def read_table(text: str | None = None) -> OptionsTable:
    """The section's two tables (options by command; commands that take none) and its notes."""
    text = DESIGN.read_text(encoding="utf-8") if text is None else text
    body = text.split(SECTION, 1)[1]
    lines = []
    for line in body.splitlines()[1:]:
        if line.startswith("#"):
            break
        lines.append(line)
    matrix, none = _tables(lines)
    header, *rows = matrix
    commands = header[1:]
    options: list[SharedOption] = []
    takes: dict[str, dict[str, str]] = {c: {} for c in commands}
    for row in rows:
        spelled = re.findall(r"`([^`]+)`", row[0])
        flag = spelled[0].split()[0]
        has_list = "(list:" in row[0]
        options.append(SharedOption(flag, spelled[1].split()[0] if has_list else flag, has_list))
        for command, cell in zip(commands, row[1:], strict=True):
            takes[command][flag] = cell
    notes = {m.group(1) for line in lines if (m := re.match(r"- \((\w)\)", line))}
    return OptionsTable(options, takes, notes, {row[0] for row in none[1:]})


def commands() -> dict[str, typer.core.TyperCommand]:
    """Every command of `syncbench`, by name."""
    return typer.main.get_command(app).commands  # type: ignore[attr-defined,no-any-return]
