"""A bounded mutation fuzzer over every command's arguments: whatever the input, syncbench answers
with an exit code of the Contracts (0, 1, 2 or 130), and a refusal (exit 2) is one short line on
stderr naming the option or the input, never a traceback; nothing hangs.

Each case starts from arguments that make a command valid and cheap (a tiny scenario, one
strategy, two workers, one process) and mutates one option: a bad number, an empty string, a
huge value, inf or nan, an unknown name, a missing file, an unwritable path, a list with an empty
item, an unknown option, a required option left out. The cases are drawn with a fixed seed, so
the default suite runs the same ones each time; `SYNCBENCH_FUZZ_CASES=N` (or
`HYPOTHESIS_PROFILE=thorough`, 10x the default) runs more. A few cases whose input asks for a huge
world run as subprocesses under a memory rlimit, so that a missing bound fails the case instead
of the machine.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import bench.serve.server
from bench.cli import app
from tests.specs.time_limit import Hung, time_limit

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
SEED = 16
DEFAULT_CASES = 100
CASES = int(os.environ.get("SYNCBENCH_FUZZ_CASES", DEFAULT_CASES * (10 if THOROUGH else 1)))
#: seconds one case may take: a command that took a bad input and kept going fails the case
CASE_LIMIT_S = 30
#: what a subprocess case may map: enough for the interpreter and a small world, far below a huge one
MEMORY_LIMIT = 1536 * 2**20
EXIT_CODES = {0, 1, 2, 130}
TOKEN = "sk_fuzz_0123456789abcdef"

TINY = """
name = "tiny"
seed = 3
[dataset]
accounts = 1
conversations = 20
orphans = 1
messages = [1, 2]
history_days = 30
[activity]
cutoff_ago_s = 86400
active = 4
[dialect]
pagination = "offset"
page_size = 10
max_page_size = 10
[rate_limit]
algorithm = "none"
[latency]
jitter_sigma = 0
"""

#: arguments that make each command valid and cheap; `{name}` are the workspace's paths
BASE: dict[str, dict[str, str | None]] = {
    "run": {"--scenario": "{tiny}", "--strategy": "client-filter", "--fanout": "threads", "--workers": "2"},
    "sweep": {
        "--scenario": "{tiny}",
        "--strategies": "client-filter",
        "--fanouts": "threads",
        "--workers": "2",
        "--jobs": "1",
        "--out": "{new}",
    },
    "report": {},
    "scenarios": {},
    "strategies": {},
    "serve": {"--scenario": "{tiny}", "--port": "0"},
    "fidelity": {"--scenario": "{tiny}", "--strategy": "client-filter", "--workers": "2", "--time-scale": "0.05"},
    "record": {"--base-url": "http://127.0.0.1:9", "--out": "{new}/c.json", "--strategy": "client-filter"},
    "import": {"--out": "{new}/imported.toml"},
    "recommend": {"--scenario": "{tiny}", "--strategy": "client-filter", "--workers": "1,2", "--jobs": "1"},
    "gate": {"--baseline": "{baseline}", "--jobs": "1"},
    "faults": {"--scenario": "{tiny}", "--strategies": "client-filter", "--faults": "5xx-burst", "--jobs": "1"},
    "scale": {"--scenario": "{tiny}", "--sizes": "10", "--strategies": "client-filter", "--jobs": "1"},
    "selftest": {"--repeats": "1"},
}
#: positional arguments of the commands that take one
POSITIONAL = {"report": ["{results}"], "import": ["{cassette}"]}
BASE["scale"]["--out"] = "{new}"

NUMBERS = ["0", "-1", "x", "", "1.5", "nan", "99999999999999999999", "-99999999999999999999"]
FLOATS = ["inf", "-inf", "nan", "0", "-1", "1e400", "x", "", "1e308", "1e-300"]
TEXTS = ["", " ", ",", "x" * 300, "no-such-name", "caf\u00e9", "--"]
LISTS = ["", ",", "1,,2", "1,", "x", "1,1", "0", "-5", "nan", "inf", "all,", "1, 2", " , "]
PATHS = ["", "{missing}", "{missing}/deep/x.json", "/proc/x/y.json", "{a_file}/x", "{folder}", "{a_file}"]
SHARES = ["", "200%", "-1%", "nan%", "inf", "x", "5", "1e400%", "%"]
#: values by option where its type's are not enough (or would ask for wall time or network: never)
VALUES: dict[str, list[str]] = {
    "--scenario": ["", "no-such-scenario", "{missing}.toml", "{folder}", "{malformed}", "{a_file}", "{inf_toml}"],
    "--strategy": ["", "no-such-strategy", "CLIENT-FILTER", "all", "x" * 300],
    "--strategies": ["", ",", "client-filter,", "client-filter,client-filter", "no-such", "all,x", "x" * 300],
    "--fanouts": ["", ",", "threads,", "threads,threads", "pigeon", "sequential"],
    "--faults": ["", ",", "5xx-burst,", "no-such-fault", "all"],
    "--sizes": ["", ",", "10,,20", "9", "-10", "x", "10,10", "nan", "1e3"],  # huge sizes: the subprocess cases
    "--host": ["", "0.0.0.0", "256.1.1.1", "::1", "127.0.0.1"],
    "--base-url": ["", "ftp://127.0.0.1", "http://", "http://[::1", "127.0.0.1:9", "http://127.0.0.1:99999"],
    "--token-env": ["", "NO_SUCH_VARIABLE", "FUZZ_SHORT_TOKEN", "FUZZ_EMPTY_TOKEN", "lower-case"],
    "--margin": SHARES,
    "--max-throttled": SHARES,
    "--threshold": SHARES,
    "--scheduler": ["", "x"],
    "--time-scale": ["0", "-1", "nan", "inf", "1001", "x", ""],  # never a large accepted scale: wall time
    "--throttle": ["0", "-1", "nan", "inf", "x", "", "1e308"],  # never a tiny accepted rate: wall time
    "--profile": [*PATHS, "{bad_profile}"],
    "--cassette": [*PATHS, "{bad_cassette}"],
    "--baseline": [*PATHS, "{bad_baseline}"],
}
#: options never left out: their defaults make long runs (more sizes, worker counts or faults, wall time)
NO_MISSING = {"--sizes", "--time-scale", "--workers", "--jobs", "--faults"}
#: commands whose valid runs take seconds (reports, plots, fresh processes, wall time): cases per 100
SLOW = {"sweep": 5, "scale": 3, "fidelity": 6}
#: flags never turned on (they measure the host for minutes), and options never mutated (wall time, network)
NEVER = {"--overhead", "--help", "--executor", "--clock"}


@dataclass(frozen=True)
class Case:
    command: str
    argv: tuple[str, ...]
    option: str  # what was mutated: a flag, "positional", "unknown-option" or "missing:<flag>"
    value: str


def _commands() -> dict[str, Any]:
    return typer.main.get_command(app).commands  # type: ignore[attr-defined]


def _values(param: Any, flag: str) -> list[str]:
    if flag in VALUES:
        return VALUES[flag]
    kind = str(param.bare_type())
    if kind == "int":
        return NUMBERS
    if kind == "float":
        return FLOATS
    if kind == "Path":
        return PATHS
    if kind != "str":  # a Literal or an enum: a choice
        return ["nope", "", "THREADS"]
    if flag == "--workers":
        return LISTS
    return TEXTS


def _argv(command: str, options: dict[str, str | None], positional: list[str]) -> tuple[str, ...]:
    argv = [command, *positional]
    for flag, value in options.items():
        if value is not None:
            argv += [flag] if value == "" and flag == "<flag>" else [f"{flag}={value}"]
    return tuple(argv)


def all_cases() -> list[Case]:
    """Every mutation of every command, in a fixed order."""
    cases: list[Case] = []
    for name, command in sorted(_commands().items()):
        base = dict(BASE.get(name, {}))
        positional = list(POSITIONAL.get(name, []))
        for param in command.params:
            flag = max(param.opts, key=len)
            if flag in NEVER or not flag.startswith("--"):
                if param.param_type_name == "argument":
                    for value in PATHS:
                        cases.append(Case(name, _argv(name, base, [value]), "positional", value))
                continue
            if param.is_flag:
                if flag not in base:
                    cases.append(Case(name, (*_argv(name, base, positional), flag), flag, ""))
                continue
            for value in _values(param, flag):
                cases.append(Case(name, _argv(name, base | {flag: value}, positional), flag, value))
            if flag in base and flag not in NO_MISSING:
                cases.append(Case(name, _argv(name, base | {flag: None}, positional), f"missing:{flag}", ""))
        unknown = (*_argv(name, base, positional), "--no-such-option", "1")
        cases.append(Case(name, unknown, "unknown-option", "--no-such-option"))
    return cases


def drawn(count: int = CASES) -> list[Case]:
    """`count` cases drawn with a fixed seed, the same ones each run: one of each command's, then any,
    but few of the commands whose valid runs take seconds (more of them as `count` grows)."""
    rng = random.Random(SEED)
    cases = all_cases()
    first = [rng.choice([c for c in cases if c.command == name]) for name in sorted({c.command for c in cases})]
    caps = {name: math.ceil(cap * count / DEFAULT_CASES) for name, cap in SLOW.items()}
    chosen = list(first)
    for case in rng.sample([c for c in cases if c not in first], len(cases) - len(first)):
        if len(chosen) >= count:
            break
        if sum(c.command == case.command for c in chosen) < caps.get(case.command, len(cases)):
            chosen.append(case)
    return chosen


# -- the workspace ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files the cases point at; shared by every case, which must not change them."""
    root = tmp_path_factory.mktemp("fuzz")
    tiny = root / "tiny.toml"
    tiny.write_text(TINY)
    (root / "a-file").write_text("not a folder\n")
    (root / "folder").mkdir()
    (root / "malformed.toml").write_text('name = "x"\n[dataset\n')
    (root / "inf.toml").write_text('name = "x"\n[dataset]\nconversations = inf\n')
    (root / "bad-profile.toml").write_text('page_size = "50"\n')
    (root / "bad-cassette.json").write_text('{"version": 1, "interactions": "x"}')
    (root / "bad-baseline.json").write_text('{"entries": [{"key": {"options": {"max_retries": -1}}}]}')
    runner = CliRunner()
    results = root / "results"
    sweep = ["sweep", "--scenario", str(tiny), "--strategies", "client-filter", "--fanouts", "threads"]
    done = runner.invoke(app, [*sweep, "--workers", "2", "--jobs", "1", "--out", str(results)])
    assert done.exit_code == 0, done.output
    baseline = root / "baseline.json"
    key = {"scenario": str(tiny), "strategy": "client-filter", "fanout": "threads", "workers": 2}
    key |= {"account_workers": 1, "sync": 0}
    baseline.write_text(json.dumps({"entries": [{"key": key}]}))
    done = runner.invoke(app, ["gate", "--update", "--baseline", str(baseline), "--jobs", "1"])
    assert done.exit_code == 0, done.output
    cassette = Path(__file__).resolve().parents[2] / "fixtures" / "cassettes" / "tiny-cursor.json"
    return {
        "tiny": str(tiny),
        "root": str(root),
        "a_file": str(root / "a-file"),
        "folder": str(root / "folder"),
        "missing": str(root / "missing"),
        "malformed": str(root / "malformed.toml"),
        "inf_toml": str(root / "inf.toml"),
        "bad_profile": str(root / "bad-profile.toml"),
        "bad_cassette": str(root / "bad-cassette.json"),
        "bad_baseline": str(root / "bad-baseline.json"),
        "results": str(results),
        "baseline": str(baseline),
        "cassette": str(cassette),
    }


def _names_its_input(line: str, argv: tuple[str, ...]) -> bool:
    """A refusal names an option of the command line or one it needs, or a value (a file, an unknown name)
    it could not use, or says that a value is empty."""
    options = {o for p in _commands()[argv[0]].params for o in p.opts}
    if "is empty" in line or any(flag in options for flag in re.findall(r"--[a-z][a-z-]*", line)):
        return True
    for arg in argv[1:]:
        flag, _, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        if flag and (flag in line or flag.lstrip("-").replace("-", "_") in line or flag.lstrip("-") in line):
            return True
        if len(value.strip()) >= 2 and (value[:30] in line or Path(value).name[:30] in line):
            return True
    return False


def _check(code: int | None, stderr: str, case: Case, argv: tuple[str, ...]) -> None:
    where = f"{' '.join(argv)!r}"
    assert code in EXIT_CODES, f"{where}: exit {code}, stderr {stderr[-600:]!r}"
    assert "Traceback" not in stderr, f"{where}: {stderr[-600:]}"
    if code == 2:
        lines = stderr.splitlines()
        assert len(lines) == 1, f"{where}: want one stderr line, got {stderr[:600]!r}"
        line = lines[0]
        assert line.startswith("syncbench: error:") and "internal error" not in line, f"{where}: {line}"
        assert len(line) <= 400, f"{where}: a {len(line)}-character line"
        assert _names_its_input(line, argv), f"{where}: the refusal names neither option nor input: {line}"


@pytest.fixture
def quiet_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` checks its input and builds its world, then returns instead of listening."""
    monkeypatch.setattr(bench.serve.server, "serve", lambda app, host, port, ready: ready(f"http://{host}:{port}"))


@pytest.mark.parametrize("case", drawn(), ids=lambda c: f"{c.command}{c.option}={c.value[:20]}")
def test_every_argument_gets_an_answer_of_the_contract(
    case: Case, workspace: dict[str, str], tmp_path: Path, quiet_serve: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a case that writes (gate's default baseline, reports) writes here
    paths = workspace | {"new": str(tmp_path / "new")}
    argv = tuple(a.format(**paths) for a in case.argv)
    env = {"FUZZ_SHORT_TOKEN": "ok", "FUZZ_EMPTY_TOKEN": "", "FUZZ_TOKEN": TOKEN, "COLUMNS": "100"}
    with time_limit(CASE_LIMIT_S):
        result = CliRunner().invoke(app, list(argv), env=env)
    if isinstance(result.exception, Hung):
        raise result.exception
    _check(result.exit_code, result.stderr, case, argv)


def test_the_draw_is_fixed_and_covers_every_command() -> None:
    """The default suite runs the same cases each time, and every command is among them."""
    assert drawn(DEFAULT_CASES) == drawn(DEFAULT_CASES)
    assert {c.command for c in drawn(DEFAULT_CASES)} == set(_commands())


# -- under a memory limit, in a process of their own ---------------------------------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


HUGE = {
    "conversations": 'name = "huge"\n[dataset]\nconversations = 1000000000\n',
    "accounts": 'name = "many"\n[dataset]\naccounts = 1000\nconversations = 100000\n',
    "small": TINY,
}


#: a scenario's world refused by its size (True), or admitted and run within the rlimit (False)
MEMORY_CASES = [
    pytest.param(
        ["scale", "--sizes", "1000000000000", "--strategies", "client-filter", "--out", "{new}"], True, id="scale"
    ),
    pytest.param(["run", "--scenario", "{conversations}", "--strategy", "client-filter"], True, id="run-huge-world"),
    pytest.param(
        ["sweep", "--scenario", "{accounts}", "--strategies", "client-filter", "--out", "{new}"], True, id="sweep"
    ),
    pytest.param(
        ["run", "--scenario", "{small}", "--strategy", "client-filter", "--page-size", "10" * 10], False, id="small"
    ),
]


@pytest.mark.parametrize(("argv", "refused"), MEMORY_CASES)
def test_inputs_asking_for_a_huge_world_are_answered_within_a_memory_limit(
    argv: list[str], refused: bool, tmp_path: Path
) -> None:
    """A world too large for the limit is refused before it is built, naming the field and the limit;
    what is admitted runs within the rlimit."""
    paths = {"new": str(tmp_path / "new")}
    for name, text in HUGE.items():
        (tmp_path / f"{name}.toml").write_text(text)
        paths[name] = str(tmp_path / f"{name}.toml")
    args = [a.format(**paths) for a in argv]
    done = subprocess.run(
        [sys.executable, "-c", "from bench.cli import app; app()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "100"},
        preexec_fn=_limit_memory,
    )
    assert done.returncode in EXIT_CODES, (done.returncode, done.stderr[-600:])
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr[-600:]
    if refused:
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert "--max-world-mib" in done.stderr and "dataset." in done.stderr, done.stderr
    else:
        assert done.returncode in (0, 1), done.stderr[-600:]
