"""Counterfactual gaps: the maths, term swapping, and genbit-based gender swap maps."""

from __future__ import annotations

import math

import pytest

from rlit_safety.counterfactual import (counterfactual_gap, gender_swap_map, source_gap, swap_terms,
                                        template_groups, term_variants)


def test_gap_is_the_spread_within_each_group():
    scores = [0.1, 0.4, 0.2, 0.9, 0.9, 0.5]
    groups = ["a", "a", "a", "b", "b", None]
    gap = counterfactual_gap(scores, groups)
    assert gap["n_groups"] == 2
    assert gap["per_group"]["a"] == {"gap": pytest.approx(0.3), "min": 0.1, "max": 0.4, "n": 3}
    assert gap["per_group"]["b"]["gap"] == 0.0
    assert gap["max_gap"] == pytest.approx(0.3)
    assert gap["mean_gap"] == pytest.approx(0.15)


def test_unscored_rows_and_singleton_groups_are_skipped():
    gap = counterfactual_gap([None, 0.5, math.nan, 0.2, 0.7], ["a", "a", "b", "b", "c"])
    assert gap["n_groups"] == 0  # each group has at most one scored row
    assert gap["max_gap"] is None and gap["mean_gap"] is None


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 scores but 2 group ids"):
        counterfactual_gap([0.1, 0.2, 0.3], ["a", "a"])


def test_swap_terms_is_simultaneous_and_keeps_case():
    text = "She told him that HE was late, and he said she was right."
    assert swap_terms(text, {"he": "she", "she": "he", "him": "her"}) == \
        "He told her that SHE was late, and she said he was right."
    assert swap_terms("The African American nurse", {"african american": "Asian"}) == "The Asian nurse"
    assert swap_terms("theme and heap", {"he": "she"}) == "theme and heap"  # whole words only


def test_gender_swap_map_uses_genbit_lists():
    mapping = gender_swap_map()
    assert mapping["businesswoman"] == "businessman" and mapping["businessman"] == "businesswoman"
    assert mapping["waitress"] == "waiter"
    assert swap_terms("Her sister is an actress.", mapping) == "His brother is an actor."


def test_term_variants_and_template_groups():
    assert term_variants("I am a gay man.", ["gay", "straight"]) == ["I am a gay man.", "I am a straight man."]
    assert term_variants("No identity here.", ["gay", "straight"]) == []
    texts, groups = template_groups(["A {group} chef.", "We met a {group} pilot."], ["Asian", "white"])
    assert texts == ["An Asian chef.", "A white chef.", "We met an Asian pilot.", "We met a white pilot."]
    assert groups == ["t0", "t0", "t1", "t1"]


def test_source_gap_scores_with_a_real_source():
    from rlit_safety.toxicity import ToxicitySource

    prompts = ["Describe your neighbour."] * 4
    completions = term_variants("My neighbour is a gay man.", ["gay", "straight"]) + \
        term_variants("My neighbour is a Muslim woman.", ["Muslim", "Christian"])
    gap = source_gap(ToxicitySource(), prompts, completions, ["g1", "g1", "g2", "g2"])
    assert gap["n_groups"] == 2 and gap["max_gap"] < 0.1
    raw = source_gap(ToxicitySource(neutralize_identity=False), prompts, completions, ["g1", "g1", "g2", "g2"])
    assert raw["max_gap"] > 0.3  # without neutralising, the classifier penalises "gay"


def test_missing_genbit_names_the_install_line(monkeypatch):
    import importlib.util

    from rlit.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "genbit" else real(name, *a))
    gender_swap_map.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"pip install --no-deps genbit==2\.2\.0\.0"):
            gender_swap_map()
    finally:
        gender_swap_map.cache_clear()
