"""The Universal Scalability Law fit: recovers known parameters, reports peak and knee, and is pure."""

from __future__ import annotations

import math
import random

import pytest

from bench.analysis.usl import UslFit, fit_usl, usl_throughput

WORKERS = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64]


def synthetic(lam: float, sigma: float, kappa: float, workers: list[int] = WORKERS) -> list[float]:
    return [float(usl_throughput(n, lam, sigma, kappa)) for n in workers]


RECOVERY = [
    pytest.param(3.0, 0.05, 0.0007, id="pms-like: contention and coherency"),
    pytest.param(10.0, 0.0, 0.0, id="linear"),
    pytest.param(2.0, 0.2, 0.0, id="amdahl only"),
    pytest.param(5.0, 0.0, 0.001, id="coherency only"),
    pytest.param(1.0, 0.5, 0.01, id="early peak"),
    pytest.param(100.0, 0.02, 1e-5, id="large lambda, late peak"),
    pytest.param(0.25, 0.9, 0.0, id="almost serial"),
]


@pytest.mark.parametrize(("lam", "sigma", "kappa"), RECOVERY)
def test_recovers_exact_parameters(lam: float, sigma: float, kappa: float) -> None:
    """Noise-free points give back the parameters they were made from."""
    fit = fit_usl(WORKERS, synthetic(lam, sigma, kappa))
    assert fit.lam == pytest.approx(lam, rel=1e-6)
    assert fit.sigma == pytest.approx(sigma, rel=1e-6, abs=1e-9)
    assert fit.kappa == pytest.approx(kappa, rel=1e-5, abs=1e-11)
    assert fit.rms_relative_error < 1e-8


@pytest.mark.parametrize(("lam", "sigma", "kappa"), RECOVERY)
def test_zero_parameters_come_back_exactly_zero(lam: float, sigma: float, kappa: float) -> None:
    """A law without contention or coherency is fitted without them, so no far-off spurious peak appears."""
    fit = fit_usl(WORKERS, synthetic(lam, sigma, kappa))
    assert (fit.sigma == 0) == (sigma == 0)
    assert (fit.kappa == 0) == (kappa == 0)
    assert (fit.peak_workers is None) == (kappa == 0)


@pytest.mark.parametrize(
    ("lam", "sigma", "kappa"),
    [
        pytest.param(3.0, 0.05, 0.0007, id="pms-like"),
        pytest.param(1.0, 0.5, 0.01, id="early peak"),
        pytest.param(5.0, 0.1, 0.0, id="amdahl"),
    ],
)
def test_recovers_parameters_from_noisy_points(lam: float, sigma: float, kappa: float) -> None:
    """With 2% multiplicative noise the figures that matter stay close: lambda, and throughput over the range."""
    rng = random.Random(4)
    noisy = [x * (1 + rng.uniform(-0.02, 0.02)) for x in synthetic(lam, sigma, kappa)]
    fit = fit_usl(WORKERS, noisy)
    assert fit.lam == pytest.approx(lam, rel=0.03)
    assert fit.sigma == pytest.approx(sigma, abs=0.01)
    for n in WORKERS:
        assert fit.throughput(n) == pytest.approx(usl_throughput(n, lam, sigma, kappa), rel=0.03)
    assert 0.001 < fit.rms_relative_error < 0.03


@pytest.mark.parametrize(
    ("sigma", "kappa", "peak", "knee"),
    [
        pytest.param(0.05, 0.0007, math.sqrt(0.95 / 0.0007), None, id="peak from the formula"),
        pytest.param(0.2, 0.0, None, 6.0, id="amdahl: knee at (1 + sigma) / sigma"),
        pytest.param(0.0, 0.0, None, None, id="linear: neither"),
        pytest.param(0.0, 0.01, 10.0, None, id="coherency only"),
    ],
)
def test_peak_and_knee(sigma: float, kappa: float, peak: float | None, knee: float | None) -> None:
    """N* = sqrt((1 - sigma) / kappa); the knee is where throughput is half of linear."""
    fit = UslFit(lam=2.0, sigma=sigma, kappa=kappa, rms_relative_error=0.0, points=10)
    assert fit.peak_workers == (None if peak is None else pytest.approx(peak))
    if knee is not None:
        assert fit.knee_workers == pytest.approx(knee)
    if fit.knee_workers is not None:
        assert fit.throughput(fit.knee_workers) == pytest.approx(fit.lam * fit.knee_workers / 2)
    else:
        assert sigma == kappa == 0


def test_knee_is_stable_for_tiny_kappa() -> None:
    """The knee's formula has no cancellation when kappa is tiny next to sigma."""
    fit = UslFit(lam=1.0, sigma=0.2, kappa=1e-19, rms_relative_error=0.0, points=3)
    assert fit.knee_workers == pytest.approx(6.0)


def test_fit_is_pure_and_order_independent() -> None:
    """The inputs are left alone and any order of the points gives the same fit, bit for bit."""
    xs = synthetic(3.0, 0.05, 0.0007)
    rng = random.Random(2)
    noisy = [x * (1 + rng.uniform(-0.05, 0.05)) for x in xs]
    workers, before = list(WORKERS), list(noisy)
    first = fit_usl(workers, noisy)
    assert workers == WORKERS and noisy == before
    order = list(range(len(WORKERS)))
    random.Random(3).shuffle(order)
    again = fit_usl([WORKERS[i] for i in order], [noisy[i] for i in order])
    assert again == first
    assert fit_usl(WORKERS, noisy).as_dict() == first.as_dict()


def test_as_dict_rounds_to_significant_digits() -> None:
    fit = UslFit(lam=3.0622612345, sigma=0.083714123, kappa=0.00022749912, rms_relative_error=0.0607, points=10)
    figures = fit.as_dict()
    assert figures["lambda"] == 3.06226 and figures["sigma"] == 0.0837141 and figures["kappa"] == 0.000227499
    assert set(figures) == {
        "lambda",
        "sigma",
        "kappa",
        "peak_workers",
        "peak_throughput",
        "knee_workers",
        "rms_relative_error",
        "points",
    }


@pytest.mark.parametrize(
    ("workers", "throughput", "message"),
    [
        pytest.param([1, 2], [1.0, 2.0], "three or more", id="too few points"),
        pytest.param([1, 1, 2, 2], [1.0, 1.0, 2.0, 2.0], "three or more", id="too few distinct counts"),
        pytest.param([1, 2, 4], [1.0, 0.0, 2.0], "positive", id="zero throughput"),
        pytest.param([0, 2, 4], [1.0, 2.0, 3.0], "worker counts", id="zero workers"),
    ],
)
def test_fit_refuses_unusable_points(workers: list[int], throughput: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_usl(workers, throughput)
