"""The one error type the CLI turns into a one-line message and exit code 2."""

from __future__ import annotations

__all__ = ["HarnessError"]


class HarnessError(Exception):
    """Bad input or an unusable environment: reported in one line, exit code 2."""
