"""Uncertainty for claims: percentile bootstrap over sequences (puzzles, tasks, states).

Every interval here resamples *sequences* with replacement, and a statistic that compares two
methods is computed on the same resample of the same sequences (a paired bootstrap), so the
per-sequence correlation between methods (both solve the easy puzzles, both fail the hardest)
narrows the interval as it should. Resamples are drawn from a seeded generator: the same seed and
data give the same interval.

    w = resample_weights(n=700, reps=2000, seed=0)       # [R, N] counts, each row sums to N
    est, lo, hi = interval(w, lambda m: m(solved_mi) - m(solved_seq))

``m(x)`` inside the statistic is the resampled mean of a per-sequence array ``x[N]`` (a vector
[R] over resamples; the plain mean for the point estimate).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np


@lru_cache(maxsize=8)
def resample_weights(n: int, reps: int, seed: int) -> np.ndarray:
    """[reps, n] multinomial counts: how often each of n sequences is drawn in each resample.

    Read-only and cached (the last 8 (n, reps, seed)): a tables job asks for the same resamples for every
    method and knob setting (342 draws took 3.4 s of one tables job before the cache)."""
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=reps).astype(np.float64)
    w.flags.writeable = False
    return w


@dataclass
class Estimate:
    """A statistic with its percentile-bootstrap interval and the number of sequences behind it."""

    value: float
    low: float
    high: float
    n: int

    def text(self, fmt: str = ".3f") -> str:
        return f"{self.value:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def interval(weights: np.ndarray, statistic: Callable, level: float = 0.95) -> Estimate:
    """Point estimate and percentile interval of ``statistic(m)``, where ``m(x)`` is the (resampled)
    mean of a per-sequence array x[N]."""
    n = weights.shape[1]

    def point(x):
        return float(np.mean(np.asarray(x, dtype=np.float64)))

    def resampled(x):
        return weights @ np.asarray(x, dtype=np.float64) / n

    value = float(statistic(point))
    draws = np.asarray(statistic(resampled), dtype=np.float64)
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return Estimate(value, float("nan"), float("nan"), n)
    a = (1 - level) / 2
    lo, hi = np.quantile(draws, [a, 1 - a])
    return Estimate(value, float(lo), float(hi), n)


def interp_quality(passes: np.ndarray, quality: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Quality of a quality-vs-passes curve at ``at`` passes, linearly interpolated, clamped at the ends.

    passes, quality: [..., K] curve points (K knob settings, any order); at: [...] -> [...].
    Vectorised over leading (resample) dimensions.
    """
    passes, quality = np.atleast_2d(passes), np.atleast_2d(quality)
    at = np.atleast_1d(np.asarray(at, dtype=np.float64))
    order = np.argsort(passes, axis=-1, kind="stable")
    p = np.take_along_axis(passes, order, -1)
    q = np.take_along_axis(quality, order, -1)
    out = np.empty(p.shape[0])
    for r in range(p.shape[0]):
        out[r] = np.interp(at[r if len(at) > 1 else 0], p[r], q[r])
    return out


def interp_inside(passes: np.ndarray, quality: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Like :func:`interp_quality`, but NaN where ``at`` lies outside the curve's measured passes
    (a comparison is never made on an extrapolated or clamped value).

    passes, quality: [R, K]; at: [R] or a scalar -> [R]."""
    passes, quality = np.atleast_2d(passes), np.atleast_2d(quality)
    at = np.broadcast_to(np.atleast_1d(np.asarray(at, dtype=np.float64)), (passes.shape[0],))
    out = interp_quality(passes, quality, at)
    inside = (at >= passes.min(-1) - 1e-9) & (at <= passes.max(-1) + 1e-9)
    return np.where(inside, out, np.nan)


def verdict(low: float, high: float, threshold: float, higher_is_better: bool = True) -> str:
    """'yes' when the whole interval clears ``threshold``, 'no' when the whole interval misses it,
    'inconclusive' when it straddles the threshold."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if higher_is_better:
        return "yes" if low >= threshold else ("no" if high < threshold else "inconclusive")
    return "yes" if high <= threshold else ("no" if low > threshold else "inconclusive")


def combine(*verdicts: str) -> str:
    """All parts must hold: any 'no' -> no, else any 'inconclusive' -> inconclusive, else yes."""
    if "no" in verdicts:
        return "no"
    return "inconclusive" if "inconclusive" in verdicts else "yes"
