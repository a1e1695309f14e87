"""The overhead self-test compares the full stack with plain httpx on the same requests."""

from __future__ import annotations

from bench.studies.selftest import _full_stack, _plain


def test_plain_httpx_replays_exactly_the_recorded_requests() -> None:
    """Every recorded answer is consumed once by the plain replay, in every mode."""
    for mode, workers in (("sequential", 1), ("threads", 4), ("async", 4)):
        seconds, calls, log = _full_stack(mode, workers)
        assert seconds > 0 and calls == len(log) > 1000
        assert _plain(mode, workers, log) > 0


def test_the_median_pair_is_reported_with_the_spread_of_all_pairs(monkeypatch) -> None:
    """Pairs are measured back to back; the report shows the pair with the median ratio, not the best
    time of each side taken apart (which may pair a fast moment of one side with a slow one of the other)."""
    import bench.studies.selftest as selftest

    # (full-stack seconds, plain seconds) of three pairs: ratios 0.2, 0.6 and 0.4, in every mode
    full_seconds = iter([1.0, 1.0, 2.0] * 3)
    plain_seconds = iter([0.2, 0.6, 0.8] * 3)
    monkeypatch.setattr(selftest, "_full_stack", lambda mode, workers: (next(full_seconds), 1000, []))
    monkeypatch.setattr(selftest, "_plain", lambda mode, workers, log: next(plain_seconds))

    result = selftest.overhead(repeats=3)

    assert set(result["modes"]) == {"sequential", "threads", "async"}
    for figures in result["modes"].values():
        assert figures["ratio"] == 0.4, "the median pair (best of each side apart would say 0.2)"
        assert (figures["full_stack_rps"], figures["plain_rps"]) == (500.0, 1250.0)
        assert figures["spread"] == [0.2, 0.6]
        assert figures["requests"] == 1000
