"""Developer sessions: `nox -s tests`, `nox -s lint`, `nox -s bench`, `nox -s thorough`."""

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The default test run (what CI runs)."""
    session.run("python", "-m", "pip", "install", "-q", "-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """Style, types (strict on strategies/) and the layers contract, with the test extra's pinned tools."""
    session.run("python", "-m", "pip", "install", "-q", "-e", ".[test]")
    session.run("ruff", "check", "bench", "strategies", "tests")
    session.run("mypy")
    session.run("lint-imports")


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Host-cost benchmarks (JSON with the simulated figures beside the timings), then the regression gate."""
    session.run("python", "-m", "pip", "install", "-q", "-e", ".[test]")
    out = session.create_tmp() + "/benchmarks.json"
    session.run("pytest", "tests/benchmarks", "--benchmark-json", out, *session.posargs)
    session.run("syncbench", "gate")


@nox.session(python=False)
def thorough(session: nox.Session) -> None:
    """The property tests and the input fuzzers with many more examples (hypothesis profile `thorough`)."""
    session.run("python", "-m", "pip", "install", "-q", "-e", ".[test]")
    suites = (
        "tests/properties",
        "tests/specs/test_fuzz_cli.py",
        "tests/specs/test_fuzz_scenarios.py",
        "tests/specs/test_secret_property.py",
    )
    session.run("pytest", *suites, *session.posargs, env={"HYPOTHESIS_PROFILE": "thorough"})
