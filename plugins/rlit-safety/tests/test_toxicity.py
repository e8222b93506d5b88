"""The toxicity source: registration, ordering, identity neutrality, backends and their errors."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from rlit.errors import ConfigError
from rlit_safety.counterfactual import counterfactual_gap, template_groups
from rlit_safety.identity import SWAP_TERMS, identity_templates, neutralize_identity
from rlit_safety.toxicity import ToxicitySource

# Written for these tests (not taken from any dataset).
TOXIC = [
    "You are a worthless idiot and everyone hates you.",
    "Shut up, you pathetic loser.",
    "I will beat the crap out of you, moron.",
    "This is bullshit and you are a lying sack of garbage.",
    "Go to hell, you disgusting pig.",
    "What a dumbass thing to say, you stupid clown.",
    "You people are scum and should crawl back into your holes.",
]
BENIGN = [
    "You are a thoughtful colleague and everyone likes you.",
    "Please be quiet during the concert.",
    "I will pick you up from the station at noon.",
    "The report is finished and the figures look right.",
    "Go to the bakery and buy some fresh bread.",
    "The gay couple next door helped us paint the fence.",
    "As a Muslim woman, I enjoy teaching mathematics.",
]


@pytest.fixture(scope="module")
def toxicity():
    return ToxicitySource()


def test_entry_point_registers_both_sources(registry):
    for name in ("toxicity", "bias"):
        entry = registry.sources[name]
        assert entry.distribution == "rlit-safety" and entry.plugin == "safety"  # the entry-point name
        assert entry.cls.higher_is_better is False
    assert registry.source_class("toxicity") is ToxicitySource


def test_toxic_texts_score_above_benign_ones(toxicity):
    toxic = toxicity.score([""] * len(TOXIC), TOXIC)
    benign = toxicity.score([""] * len(BENIGN), BENIGN)
    assert all(0.0 <= p <= 1.0 for p in toxic + benign)
    assert min(toxic) > max(benign)
    assert min(toxic) > 0.8 and max(benign) < 0.3


def test_identity_swap_gap_is_small_where_the_raw_classifier_is_not(toxicity):
    from profanity_check import predict_prob

    texts, groups = template_groups(identity_templates()[:8], SWAP_TERMS)
    ours = counterfactual_gap(toxicity.score([""] * len(texts), texts), groups)
    raw = counterfactual_gap([float(p) for p in predict_prob(texts)], groups)
    assert ours["n_groups"] == 8
    assert ours["max_gap"] < 0.1
    assert raw["max_gap"] > 0.5  # the bias this backend exists to remove is really there


def test_identity_terms_are_neutralised_but_abuse_is_not():
    assert neutralize_identity("I am a GAY man.") == "I am a someone someone."
    assert neutralize_identity("African American women") == "someone someone"
    assert "idiot" in neutralize_identity("you gay idiot")


def test_extra_identity_terms_option():
    source = ToxicitySource(extra_identity_terms=["pagan"])
    a, b = source.score(["", ""], ["I am a pagan woman.", "I am a Jewish woman."])
    assert a == pytest.approx(b)


def test_details_name_the_profane_words(toxicity):
    (row,) = toxicity.details([""], ["what a sh1t day"])
    assert row["profane_words"] == ["shit"]
    assert row["toxicity"] > row["classifier"]


def test_identity_words_are_not_counted_as_profanity(toxicity):
    (row,) = toxicity.details([""], ["My queer friends and gay neighbours"])
    assert row["profane_words"] == []


def test_trl_style_call_with_conversational_completions(toxicity):
    out = toxicity(prompts=["hi"], completions=[[{"role": "assistant", "content": "Shut up, you pathetic loser."}]],
                   trainer_state=None)
    assert len(out) == 1 and out[0] > 0.8


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown backend 'perspective'.*default, hf, detoxify"):
        ToxicitySource(backend="perspective")


def test_hf_backend_needs_a_model():
    with pytest.raises(ConfigError, match="needs option model"):
        ToxicitySource(backend="hf")


def test_hf_backend_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        ToxicitySource(backend="hf", model=str(tmp_path / "nope"))


@pytest.mark.skipif(importlib.util.find_spec("detoxify") is not None, reason="detoxify is installed here")
def test_missing_detoxify_names_the_install_line():
    with pytest.raises(ConfigError, match="pip install detoxify"):
        ToxicitySource(backend="detoxify")


def test_missing_profanity_check_names_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "profanity_check", None)  # makes the import fail
    with pytest.raises(ConfigError, match="pip install alt-profanity-check==1.9.1"):
        ToxicitySource()


def test_bad_word_weight_is_rejected():
    with pytest.raises(ConfigError, match="word_weight"):
        ToxicitySource(word_weight=1.0)


def test_hf_backend_with_tiny_classifier_batches_consistently(tiny_reward_dir):
    texts = ["short", "a somewhat longer sentence that needs padding in a batch", "mid length text", "x"]
    batched = ToxicitySource(backend="hf", model=str(tiny_reward_dir), batch_size=4)
    single = ToxicitySource(backend="hf", model=str(tiny_reward_dir), batch_size=1, neutralize_identity=False)
    a = batched.score([""] * 4, texts)
    b = single.score([""] * 4, texts)
    assert all(0.0 <= p <= 1.0 for p in a)
    assert a == pytest.approx(b, abs=1e-5)  # padding must not change a row's score
    assert len(set(round(p, 6) for p in a)) > 1  # it really reads the text


def test_toxicity_veto_in_a_composite_reward():
    from rlit.plugins import load_reward

    cr = load_reward({
        "normalize": "none",
        "sources": [{"name": "toxicity", "weight": -1.0, "veto": {"above": 0.8, "penalty": -5.0}}],
    })
    res = cr.score_batch(["", ""], ["Shut up, you pathetic loser.", "I am a gay man and I love cooking."])
    assert res.total[0] == -5.0 and res.vetoed_by[0] == "toxicity"
    assert res.vetoed_by[1] is None and res.total[1] > -0.1
