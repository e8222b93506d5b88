"""Bootstrap intervals and the paired bootstrap comparison against a baseline (numpy, seeded).

Units (prompts, or counterfactual groups) are resampled with replacement; the statistic is a
weighted mean, a max or a min over the resampled units. The paired comparison resamples the
*same* unit indices for both runs, so prompt difficulty cancels out of the difference.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from rlit.evaluation.results import Comparison, Unit


def _stat_rows(values: np.ndarray, weights: np.ndarray, stat: str) -> np.ndarray:
    """The statistic of each row of a (resamples x units) matrix."""
    if stat == "max":
        return values.max(axis=1)
    if stat == "min":
        return values.min(axis=1)
    mean = (values * weights).sum(axis=1) / weights.sum(axis=1)
    if stat.startswith("distance:"):  # |mean - target|, e.g. a bias rate's distance from 0.5
        return np.abs(mean - float(stat.split(":", 1)[1]))
    return mean


def bootstrap_ci(values: list[float], weights: list[float], stat: str = "mean", n_resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the statistic; (nan, nan) with no units."""
    v, w = np.asarray(values, float), np.asarray(weights, float)
    if v.size == 0:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, v.size, size=(n_resamples, v.size))
    boot = _stat_rows(v[idx], w[idx], stat)
    tail = (1 - confidence) / 2
    return float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail))


def paired_difference(current: Sequence[Unit], baseline: Sequence[Unit], stat: str = "mean",
                      n_resamples: int = 1000, confidence: float = 0.95, alpha: float = 0.05,
                      seed: int = 0) -> Comparison:
    """current - baseline on the units both runs share (matched by ``key``), with intervals.

    ``ci`` is two-sided at ``confidence``; ``lower``/``upper`` are one-sided bounds at ``alpha``
    (the alpha and 1 - alpha quantiles of the bootstrap distribution).
    """
    base = {u.key: u for u in baseline}
    pairs = [(u, base[u.key]) for u in current if u.key in base]
    counts = {"n_pairs": len(pairs), "only_current": len(current) - len(pairs), "only_baseline": len(baseline) - len(pairs)}
    if not pairs:
        return Comparison(**counts, diff=None, ci=None, lower=None, upper=None)
    cv = np.array([[c.value for c, _ in pairs]])
    cw = np.array([[c.weight for c, _ in pairs]])
    bv = np.array([[b.value for _, b in pairs]])
    bw = np.array([[b.weight for _, b in pairs]])
    diff = float(_stat_rows(cv, cw, stat)[0] - _stat_rows(bv, bw, stat)[0])
    idx = np.random.default_rng(seed).integers(0, len(pairs), size=(n_resamples, len(pairs)))
    boot = _stat_rows(cv[0][idx], cw[0][idx], stat) - _stat_rows(bv[0][idx], bw[0][idx], stat)
    tail = (1 - confidence) / 2
    q = np.quantile(boot, [tail, 1 - tail, alpha, 1 - alpha])
    return Comparison(**counts, diff=diff, ci=[float(q[0]), float(q[1])], lower=float(q[2]), upper=float(q[3]), alpha=alpha)


def is_regression(comparison: Comparison, higher_is_better: bool, max_regression: float) -> bool:
    """True when the data show, at one-sided level alpha, a worsening larger than ``max_regression``."""
    if comparison.diff is None:
        return False
    if higher_is_better:
        return comparison.upper < -max_regression
    return comparison.lower > max_regression


def mean_std(values: Iterable[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, population std, n) of the values that are numbers (None and NaN skipped);
    (None, None, 0) when there are none."""
    ok = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not ok:
        return None, None, 0
    mean = sum(ok) / len(ok)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in ok) / len(ok)), len(ok)
