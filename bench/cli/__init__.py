"""The `syncbench` command line: one typer app; each command group lives in its own module."""

from bench.cli import cassette, decide, faults, real, scale, selftest  # noqa: F401  (they register on `app`)
from bench.cli.main import app

__all__ = ["app"]
