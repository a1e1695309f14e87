"""Developer sessions: `nox -s tests`, `nox -s lint`."""

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The default test run (what CI runs)."""
    session.run("python", "-m", "pip", "install", "-q", "-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    session.run("python", "-m", "pip", "install", "-q", "ruff")
    session.run("ruff", "check", "bench", "strategies", "tests")
