"""A bounded mutation fuzzer over scenario files: every mutation of a shipped scenario loads, or is
refused in one line naming the file; through the CLI it exits 0, 1 or 2 with no traceback, no hang,
and memory bounded (a few cases run in a process of their own under a memory rlimit).

Derandomized: a fixed seed and a fixed number of cases (about 20 s). More with
HYPOTHESIS_PROFILE=thorough (as `nox -s thorough` sets) or SYNCBENCH_FUZZ_CASES=N.
"""

from __future__ import annotations

import copy
import math
import os
import random
import resource
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.scenario.model import ScenarioError, load_scenario, shipped_scenarios
from bench.world.estimate import check_world
from tests.specs.time_limit import time_limit

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
#: mutated files loaded in-process; a fifth of them also run through the CLI
CASES = int(os.environ.get("SYNCBENCH_FUZZ_CASES", 3000 if THOROUGH else 300))
CLI_CASES = max(1, CASES // (10 if THOROUGH else 15))
#: the world limit for CLI cases: small, so a mutation that asks for a large world is refused, not run
CLI_MAX_WORLD_MIB = 64
#: seconds any one CLI case may take before it counts as a hang
CASE_LIMIT_S = 30
#: address space of a subprocess case: a world that escaped the estimate would die in MemoryError
RLIMIT_BYTES = 3 * 2**30

HOSTILE: list[Any] = [
    0, -1, 1, 2**31, 2**63, -(2**63), 10**9, 10**12, 10**18, 10**30,
    0.5, -0.0, 1e-300, 1e308, -1e308, math.inf, -math.inf, math.nan,
    "", "x", "1", "inf", True, False, [], [1], [1, 2, 3], [10**18, 10**18], {}, {"a": 1},
    datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59), date(2026, 3, 2), time(12, 0),
]  # fmt: skip
#: tables and fields absent from most shipped files, so mutations reach them too
EXTRA: list[tuple[str | int, ...]] = [
    ("faults", "storm", "duration_s"),
    ("faults", "server_errors", "rate"),
    ("faults", "timeouts", "hang_s"),
    ("faults", "duplicates", "overlap"),
    ("faults", "page_size"),
    ("traps", "late_arrival_s"),
    ("traps", "unsorted"),
    ("activity", "edited"),
    ("activity", "during_sync"),
    ("latency", "server_concurrency"),
    ("rate_limit", "burst"),
    ("start",),
    ("seed",),
    ("literal", "accounts"),
]


# -- writing TOML ----------------------------------------------------------------------------


class Nested:
    """A value nested `depth` lists or tables deep, written out as text (no recursion in the writer)."""

    def __init__(self, depth: int, table: bool) -> None:
        self.depth, self.table = depth, table


def _value(v: Any) -> str:
    if isinstance(v, Nested):
        return ("{ a = " * v.depth + "1" + " }" * v.depth) if v.table else ("[" * v.depth + "1" + "]" * v.depth)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(doc: dict[str, Any]) -> str:
    """Any document as TOML, every table inline (values TOML can hold: inf, nan, deep nesting)."""
    return "".join(f'"{k}" = {_value(v)}\n' for k, v in doc.items())


# -- mutating --------------------------------------------------------------------------------


def _paths(doc: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if prefix:
        yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                return
        elif isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
        node[path[-1]] = value  # type: ignore[index]


def mutate(rng: random.Random, base: dict[str, Any]) -> str:
    """One to three mutations of a shipped scenario, as TOML text."""
    doc = copy.deepcopy(base)
    suffix = ""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.random()
        path = rng.choice([*_paths(doc), *EXTRA])
        if kind < 0.7:  # a hostile value
            _set(doc, path, copy.deepcopy(rng.choice(HOSTILE)))
        elif kind < 0.78:  # deep nesting
            _set(doc, path, Nested(rng.choice((9, 50, 400, 5000)), table=rng.random() < 0.5))
        elif kind < 0.86:  # a dropped table or field
            node: Any = doc
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(path[-1], None)
        elif kind < 0.93:  # a duplicated table: [rate_limit] beside [[rate_limits]], or a header twice
            if rng.random() < 0.5:
                table = doc.get("rate_limit")
                doc["rate_limits"] = [copy.deepcopy(table) if isinstance(table, dict) else {"limit": 5}]
            else:
                suffix += f"\n[{rng.choice(['dataset', 'activity', 'dialect', 'latency'])}]\n"
        else:  # huge counts that fit every bound: only the memory estimate stands in the way
            _set(doc, ("dataset", rng.choice(["conversations", "accounts"])), rng.choice([10**6, 10**9, 1000]))
    return to_toml(doc) + suffix


def shipped_documents() -> dict[str, dict[str, Any]]:
    return {name: tomllib.loads(path.read_text(encoding="utf-8")) for name, path in shipped_scenarios().items()}


def cases(count: int, seed: int) -> Iterator[tuple[int, str]]:
    rng = random.Random(seed)
    bases = shipped_documents()
    for i in range(count):
        yield i, mutate(rng, bases[rng.choice(sorted(bases))])


# -- checks ----------------------------------------------------------------------------------


def assert_one_line_naming(message: str, path: Path) -> None:
    assert "\n" not in message.strip() and "Traceback" not in message, message
    assert str(path) in message, f"the refusal does not name the file: {message!r}"


def test_every_mutated_scenario_loads_or_is_refused_naming_the_file(tmp_path: Path) -> None:
    """In-process: `load_scenario` returns a scenario or raises one ScenarioError line naming the file
    (and its field and range); a loaded one is admitted or refused by the world estimate the same way."""
    refused = loaded = 0
    for i, text in cases(CASES, seed=16):
        path = tmp_path / f"case-{i}.toml"
        path.write_text(text, encoding="utf-8")
        try:
            scenario = load_scenario(str(path))
        except ScenarioError as error:
            assert_one_line_naming(str(error), path)
            assert "(allowed: " in str(error) or "malformed TOML" in str(error), str(error)
            refused += 1
            continue
        loaded += 1
        try:
            check_world(scenario, max_mib=CLI_MAX_WORLD_MIB)
        except ScenarioError as error:
            assert_one_line_naming(str(error), path)
    assert refused and loaded, (refused, loaded)  # the mutations reach both sides


def test_every_mutated_scenario_runs_or_exits_cleanly_through_the_cli(tmp_path: Path) -> None:
    """`syncbench run --scenario FILE`: exit 0, 1 or 2; on 2 one stderr line naming the file; never a traceback."""
    runner = CliRunner()
    codes = set()
    for i, text in cases(CLI_CASES, seed=1016):
        path = tmp_path / f"case-{i}.toml"
        path.write_text(text, encoding="utf-8")
        argv = ["run", "--scenario", str(path), "--strategy", "full-pagination", "--json"]
        argv += ["--max-world-mib", str(CLI_MAX_WORLD_MIB)]
        with time_limit(CASE_LIMIT_S, f"syncbench {' '.join(argv)}"):
            result = runner.invoke(app, argv)
        codes.add(result.exit_code)
        assert result.exit_code in (0, 1, 2), (path.read_text(), result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        if result.exit_code == 2:
            assert len(result.stderr.splitlines()) == 1, result.stderr
            assert str(path) in result.stderr, (path.read_text(), result.stderr)
    assert 2 in codes and codes & {0, 1}, codes  # some ran, some were refused


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (RLIMIT_BYTES, RLIMIT_BYTES))


@pytest.mark.parametrize(
    "text",
    [
        'name = "huge"\n[dataset]\nconversations = 1000000000\n',
        'name = "many"\n[dataset]\naccounts = 1000\nconversations = 100000\nmessages = [1, 19]\nhistory_days = 365\n',
        'name = "deep"\nx = ' + "[" * 5000 + "]" * 5000 + "\n",
        'name = "long"\n[[next_syncs]]\nafter_s = 60\nnew_messages = 1000000000000\n',
    ],
    ids=["conversations-1e9", "accounts-1000", "nested-5000", "next-syncs-1e12"],
)
def test_a_huge_scenario_is_refused_under_a_memory_rlimit(tmp_path: Path, text: str) -> None:
    """In a process of its own with a 3 GiB address space: refused in one line, never a MemoryError."""
    path = tmp_path / "case.toml"
    path.write_text(text, encoding="utf-8")
    argv = [sys.executable, "-c", "from bench.cli import app; app()", "run", "--scenario", str(path), "--json"]
    env = {k: v for k, v in os.environ.items() if k != "SYNCBENCH_MAX_WORLD_MIB"}
    done = subprocess.run(  # noqa: S603
        argv, capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory, env=env, check=False
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(done.stderr.splitlines()) == 1 and str(path) in done.stderr, done.stderr
    assert "MemoryError" not in done.stderr and "internal error" not in done.stderr, done.stderr
