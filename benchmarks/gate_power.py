"""Power of the release gate's regression test, by simulation (the table in docs/gating.md).

A pass/fail metric per prompt (like prompt-level instruction accuracy): prompt i has a success
probability p_i ~ Beta(0.6, 1.4) (mean 0.30, prompts differ a lot in difficulty); the baseline
draws y_i ~ Bernoulli(p_i) and the candidate Bernoulli(max(p_i - d, 0)), on the same prompts.
The gate flags a regression when the one-sided (1 - alpha) paired-bootstrap bound of
candidate - baseline is below -max_regression. Power = share of simulated runs flagged.

    python benchmarks/gate_power.py [--sims 300] [--resamples 300] > benchmarks/results/gate_power.md
"""

from __future__ import annotations

import argparse

import numpy as np

from rlit.evaluation.results import Unit
from rlit.evaluation.stats import is_regression, paired_difference


def flagged_share(n: int, drop: float, sims: int, resamples: int, alpha: float, max_regression: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    flagged, real_drop = 0, 0.0
    for s in range(sims):
        p = rng.beta(0.6, 1.4, n)
        base = (rng.random(n) < p).astype(float)
        cur = (rng.random(n) < np.clip(p - drop, 0, 1)).astype(float)
        real_drop += (p.mean() - np.clip(p - drop, 0, 1).mean()) / sims
        units_c = [Unit(key=str(i), value=float(v)) for i, v in enumerate(cur)]
        units_b = [Unit(key=str(i), value=float(v)) for i, v in enumerate(base)]
        cmp = paired_difference(units_c, units_b, "mean", resamples, 0.95, alpha, seed=s)
        flagged += is_regression(cmp, True, max_regression)
    return flagged / sims, real_drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=300)
    ap.add_argument("--resamples", type=int, default=300)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--ns", default="100,300,541,1000")
    ap.add_argument("--drops", default="0,0.02,0.05,0.10")
    args = ap.parse_args()
    ns = [int(x) for x in args.ns.split(",")]
    drops = [float(x) for x in args.drops.split(",")]
    print(f"Share of runs flagged as a regression (alpha = {args.alpha}, max_regression = 0, "
          f"{args.sims} simulations x {args.resamples} bootstrap resamples; base accuracy 0.30)\n")
    print("| prompts | " + " | ".join(f"drop {d:.2f}" for d in drops) + " |")
    print("| --- | " + " | ".join("---" for _ in drops) + " |")
    for n in ns:
        cells = []
        for j, d in enumerate(drops):
            share, real = flagged_share(n, d, args.sims, args.resamples, args.alpha, 0.0, seed=1000 * n + j)
            cells.append(f"{share:.2f}" + (f" (true drop {real:.3f})" if d and abs(real - d) > 0.005 else ""))
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
