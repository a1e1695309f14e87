"""A bound on how long one case may take, so a hang fails the suite instead of stalling it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Hung", "time_limit"]


class Hung(BaseException):
    """Raised by the alarm; a BaseException so that neither the CLI nor CliRunner swallows it."""


@contextmanager
def time_limit(seconds: int, what: str = "the command accepted the input and kept running") -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise Hung(f"no answer within {seconds} s: {what}")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
