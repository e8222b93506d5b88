"""Statistics of the gate: intervals, paired differences, and the false-regression rate under the null."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rlit.evaluation.metrics import aggregate
from rlit.evaluation.metrics import Scored
from rlit.evaluation.results import Unit
from rlit.evaluation.stats import bootstrap_ci, is_regression, paired_difference
from rlit.evaluation.suite import AggregateSpec


def units(values, weights=None, prefix="k"):
    weights = weights or [1.0] * len(values)
    return [Unit(key=f"{prefix}{i}", value=v, weight=w) for i, (v, w) in enumerate(zip(values, weights))]


def test_bootstrap_interval_covers_the_weighted_mean_and_is_seeded():
    rng = np.random.default_rng(1)
    vals, w = rng.random(200).tolist(), rng.integers(1, 4, 200).astype(float).tolist()
    lo, hi = bootstrap_ci(vals, w, "mean", 500, 0.95, seed=7)
    mean = sum(v * x for v, x in zip(vals, w)) / sum(w)
    assert lo < mean < hi and hi - lo < 0.2
    assert (lo, hi) == bootstrap_ci(vals, w, "mean", 500, 0.95, seed=7)
    assert bootstrap_ci([], [], "mean") != bootstrap_ci([], [], "mean")  # nan, nan


def test_paired_difference_matches_keys_and_detects_a_clear_drop():
    base = units([1.0] * 50 + [0.0] * 50)
    worse = units([1.0] * 30 + [0.0] * 70)
    cmp = paired_difference(worse + units([1.0], prefix="extra"), base, "mean", 1000, 0.95, 0.05, 0)
    assert cmp.n_pairs == 100 and cmp.only_current == 1 and cmp.diff == pytest.approx(-0.2)
    assert cmp.ci[0] < -0.2 < cmp.ci[1] and cmp.upper < 0
    assert is_regression(cmp, higher_is_better=True, max_regression=0.05)
    assert not is_regression(cmp, higher_is_better=True, max_regression=0.3)  # allowed drop
    assert not is_regression(cmp, higher_is_better=False, max_regression=0.0)  # lower is better: improvement
    assert paired_difference(units([1.0]), units([1.0], prefix="other")).diff is None


def test_group_gap_is_the_within_group_spread():
    rows = [{"key": k, "group": g} for k, g in [("a", 1), ("b", 1), ("c", 2), ("d", 2), ("e", 3)]]
    scored = Scored([0.9, 0.1, 0.5, 0.4, 0.7], higher_is_better=False)
    agg = aggregate(AggregateSpec(method="group_gap", gap="max"), rows, scored, samples=1)
    assert agg.value == pytest.approx(0.8) and len(agg.units) == 2 and agg.higher_is_better is False
    mean = aggregate(AggregateSpec(method="group_gap", gap="mean"), rows, scored, samples=1)
    assert mean.value == pytest.approx((0.8 + 0.1) / 2)


def test_rate_above_and_unscored_rows():
    rows = [{"key": str(i)} for i in range(4)]
    agg = aggregate(AggregateSpec(method="rate_above", threshold=0.5), rows, Scored([0.9, 0.2, math.nan, 0.6]), 1)
    assert agg.value == pytest.approx(2 / 3) and agg.n_unscored == 1


STORED = Path(__file__).parent / "data" / "evaluation_null_runs.json"


@pytest.fixture(scope="module")
def stored_null_runs():
    """Stored per-prompt scores of two sampled runs of one model (see the file's "about")."""
    data = json.loads(STORED.read_text())
    a, b = np.array(data["seed1"]), np.array(data["seed2"])
    assert a.size == b.size >= 100 and not np.array_equal(a, b)
    return a, b


@pytest.mark.parametrize("binary", [False, True])
def test_false_regression_rate_is_at_most_alpha(stored_null_runs, binary):
    """1,000 paired datasets with no true difference: resample prompts from the stored runs and swap
    each pair's two runs at random (exchangeable under the null). The gate's one-sided test at
    alpha = 0.05 must flag a regression in at most alpha of them, within binomial tolerance."""
    a, b = stored_null_runs
    if binary:  # a pass/fail metric, like a rate above a threshold
        cut = np.median(np.concatenate([a, b]))
        a, b = (a > cut).astype(float), (b > cut).astype(float)
    rng = np.random.default_rng(2026)
    alpha, sims, n = 0.05, 1000, 100
    flagged = 0
    for s in range(sims):
        idx = rng.integers(0, a.size, n)
        swap = rng.random(n) < 0.5
        cur, base = np.where(swap, a[idx], b[idx]), np.where(swap, b[idx], a[idx])
        cmp = paired_difference(units(cur.tolist()), units(base.tolist()), "mean", 500, 0.95, alpha, seed=s)
        flagged += is_regression(cmp, higher_is_better=True, max_regression=0.0)
    tolerance = 3 * math.sqrt(alpha * (1 - alpha) / sims)
    print(f"false-regression rate {flagged / sims:.3f} (alpha {alpha}, binary={binary})")
    assert flagged / sims <= alpha + tolerance, f"false-regression rate {flagged / sims:.3f}"
    assert flagged > 0  # the test is not vacuous: some null datasets do look like regressions
