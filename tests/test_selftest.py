"""The overhead self-test compares the full stack with plain httpx on the same requests."""

from __future__ import annotations

from bench.selftest import _full_stack, _plain


def test_plain_httpx_replays_exactly_the_recorded_requests() -> None:
    """Every recorded answer is consumed once by the plain replay, in every mode."""
    for mode, workers in (("sequential", 1), ("threads", 4), ("async", 4)):
        seconds, calls, log = _full_stack(mode, workers)
        assert seconds > 0 and calls == len(log) > 1000
        assert _plain(mode, workers, log) > 0
