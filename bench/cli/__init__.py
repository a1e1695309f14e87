"""The `syncbench` command line: one typer app; each command group lives in its own module."""

# The command modules register on `app` when imported, in the order `syncbench --help` lists them.
# isort: off
from bench.cli import main, real, cassette, decide, faults, scale, selftest  # noqa: F401

# isort: on
from bench.cli.application import app

__all__ = ["app"]
