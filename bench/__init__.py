"""syncbench's harness: simulator, clock, transports, runner, metrics, reports and CLI."""

__version__ = "0.1.0"
