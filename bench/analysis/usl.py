"""The Universal Scalability Law fitted to throughput vs workers: why adding workers stops paying.

X(N) = lambda * N / (1 + sigma * (N - 1) + kappa * N * (N - 1))

lambda is the throughput of one worker, sigma the contention (the share of work that
serialises: Amdahl), kappa the coherency cost (workers getting in each other's way, which
makes throughput fall past a peak). The fit is a small bounded Levenberg-Marquardt over
relative residuals in numpy (no scipy), so points at 1 and at 64 workers weigh alike.
Pure: the same points, in any order, give the same fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["UslFit", "fit_usl", "usl_throughput"]

#: LM iterations; the fit converges in a few dozen on real data
MAX_ITERATIONS = 500
#: relative cost change below which the fit has converged
TOLERANCE = 1e-15
#: a simpler law is kept when its cost is within this share of the full fit's
SAME_FIT = 1e-9
FREE = (False, False, False)
#: simpler laws to try, simplest first: linear, Amdahl (kappa = 0), coherency only (sigma = 0)
SIMPLER = ((False, True, True), (False, False, True), (False, True, False))
#: significant digits in reported figures, so reports are byte-stable
DIGITS = 6


def usl_throughput(n: float | np.ndarray, lam: float, sigma: float, kappa: float) -> Any:
    """The USL's throughput at `n` workers (a float or an array, like `n`)."""
    return lam * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))


def _sig(value: float | None) -> float | None:
    """`value` rounded to DIGITS significant digits (None and 0 kept as they are)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{DIGITS}g}")


@dataclass(frozen=True)
class UslFit:
    """Fitted USL parameters and what follows from them."""

    lam: float
    sigma: float
    kappa: float
    #: root mean square of (fitted / measured - 1) over the points
    rms_relative_error: float
    points: int

    def throughput(self, n: float) -> float:
        return float(usl_throughput(n, self.lam, self.sigma, self.kappa))

    @property
    def peak_workers(self) -> float | None:
        """N* = sqrt((1 - sigma) / kappa), where throughput peaks; None when it never does (kappa = 0)."""
        if self.kappa <= 0 or self.sigma >= 1:
            return None
        return math.sqrt((1 - self.sigma) / self.kappa)

    @property
    def peak_throughput(self) -> float | None:
        """Throughput at N*, or the asymptote lambda / sigma when there is no peak (None if linear)."""
        if self.peak_workers is not None:
            return self.throughput(self.peak_workers)
        return self.lam / self.sigma if self.sigma > 0 else None

    @property
    def knee_workers(self) -> float | None:
        """Workers at which the fitted throughput is half of linear scaling (lambda * N / 2).

        Past the knee the overheads (sigma, kappa) cost more than the work each worker adds:
        solves kappa N^2 + (sigma - kappa) N - (1 + sigma) = 0. None when scaling is linear.
        """
        s, k = self.sigma, self.kappa
        if k <= 0:
            return (1 + s) / s if s > 0 else None
        b, root = s - k, math.sqrt((s - k) ** 2 + 4 * k * (1 + s))
        # the form without cancellation, whichever sign b has
        return 2 * (1 + s) / (b + root) if b >= 0 else (root - b) / (2 * k)

    def as_dict(self) -> dict[str, Any]:
        """Rounded figures for reports and JSON (keys sorted by the caller's json dump)."""
        return {
            "lambda": _sig(self.lam),
            "sigma": _sig(self.sigma),
            "kappa": _sig(self.kappa),
            "peak_workers": _sig(self.peak_workers),
            "peak_throughput": _sig(self.peak_throughput),
            "knee_workers": _sig(self.knee_workers),
            "rms_relative_error": _sig(self.rms_relative_error),
            "points": self.points,
        }


def _residuals(p: np.ndarray, n: np.ndarray, x: np.ndarray) -> np.ndarray:
    return usl_throughput(n, p[0], p[1], p[2]) / x - 1.0


def _jacobian(p: np.ndarray, n: np.ndarray, x: np.ndarray) -> np.ndarray:
    lam, sigma, kappa = p
    d = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)
    return np.column_stack((n / d, -lam * n * (n - 1.0) / d**2, -lam * n * n * (n - 1.0) / d**2)) / x[:, None]


def _clip(p: np.ndarray) -> np.ndarray:
    """Keep lambda positive and sigma, kappa non-negative (the law's domain)."""
    return np.array([max(p[0], 1e-300), max(p[1], 0.0), max(p[2], 0.0)])


def _start(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A first guess from the linearised law: lambda0 = max X/N, then N*lambda0/X - 1 = sigma(N-1) + kappa N(N-1)."""
    lam0 = float(np.max(x / n))
    y = lam0 * n / x - 1.0
    a = np.column_stack((n - 1.0, n * (n - 1.0)))
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    if coef[0] < 0 or coef[1] < 0:  # one of them at its bound: fit the other alone
        fits = []
        for col in (0, 1):
            denom = float(a[:, col] @ a[:, col])
            c = max(float(a[:, col] @ y) / denom, 0.0) if denom > 0 else 0.0
            guess = np.zeros(2)
            guess[col] = c
            fits.append((float(np.sum((a @ guess - y) ** 2)), col, guess))
        coef = min(fits, key=lambda f: (f[0], f[1]))[2]
    return np.array([lam0, float(coef[0]), float(coef[1])])


def _lm(p: np.ndarray, n: np.ndarray, x: np.ndarray, fixed: tuple[bool, bool, bool]) -> tuple[np.ndarray, float]:
    """Bounded Levenberg-Marquardt: a parameter pinned at its bound and pushed outward stays fixed for that step;
    `fixed` parameters keep their starting value throughout."""
    keep = ~np.array(fixed)
    p = _clip(p)
    r = _residuals(p, n, x)
    cost = float(r @ r)
    mu = 1e-3
    for _ in range(MAX_ITERATIONS):
        j = _jacobian(p, n, x)
        a, g = j.T @ j, j.T @ r
        free = keep.copy()
        accepted = False
        for _attempt in range(30):
            idx = np.flatnonzero(free)
            sub = a[np.ix_(idx, idx)]
            damped = sub + mu * np.diag(np.maximum(np.diag(sub), 1e-30))
            try:
                step = np.linalg.solve(damped, -g[idx])
            except np.linalg.LinAlgError:
                mu *= 10
                continue
            full = np.zeros(3)
            full[idx] = step
            pinned = (p + full < 0) & (np.arange(3) > 0) & (p == 0)
            if pinned.any() and free[pinned].any():
                free &= ~pinned  # hold bound parameters and solve again without them
                continue
            trial = _clip(p + full)
            r_trial = _residuals(trial, n, x)
            c_trial = float(r_trial @ r_trial)
            if np.isfinite(c_trial) and c_trial <= cost:
                converged = cost - c_trial <= TOLERANCE * max(cost, 1e-300) or c_trial == 0
                p, r, cost = trial, r_trial, c_trial
                mu = max(mu / 3, 1e-12)
                accepted = True
                if converged:
                    return p, cost
                break
            mu *= 4
            free = keep.copy()
        if not accepted:
            break
    return p, cost


def fit_usl(workers: Sequence[float], throughput: Sequence[float]) -> UslFit:
    """Fit the USL to (workers, throughput) points; needs three distinct worker counts and positive values."""
    pairs = sorted(zip((float(w) for w in workers), (float(t) for t in throughput), strict=True))
    if len({w for w, _ in pairs}) < 3:
        raise ValueError("the USL fit needs throughput at three or more distinct worker counts")
    if any(w < 1 or t <= 0 or not math.isfinite(t) for w, t in pairs):
        raise ValueError("the USL fit needs worker counts >= 1 and positive, finite throughput")
    n = np.array([w for w, _ in pairs])
    x = np.array([t for _, t in pairs])
    first = _start(n, x)
    p, cost = min((_lm(s, n, x, FREE) for s in (first, np.array([first[0], 0.0, 0.0]))), key=lambda pc: pc[1])
    # prefer the simpler law (sigma or kappa exactly 0) when it fits as well: no spurious far-off peak
    for fixed in SIMPLER:
        start = p.copy()
        start[[i for i, f in enumerate(fixed) if f]] = 0.0
        q, c = _lm(start, n, x, fixed)
        if c <= cost * (1 + SAME_FIT) + 1e-24:
            p, cost = q, c
            break
    return UslFit(
        lam=float(p[0]),
        sigma=float(p[1]),
        kappa=float(p[2]),
        rms_relative_error=math.sqrt(cost / len(pairs)),
        points=len(pairs),
    )
