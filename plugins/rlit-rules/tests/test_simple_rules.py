"""The simple rule sources (length, repetition, json-valid, regex) and their entry point."""

from __future__ import annotations

import re

import pytest

from rlit.errors import ConfigError
from rlit_rules.json_valid import JsonValidSource
from rlit_rules.length import LengthSource
from rlit_rules.regex_rule import RegexSource
from rlit_rules.repetition import RepetitionSource


def test_every_source_loads_through_the_entry_point(registry):
    for name in ("ifeval", "length", "repetition", "json-valid", "regex"):
        entry = registry.sources[name]
        assert (entry.plugin, entry.distribution) == ("rules", "rlit-rules")
    assert "rules" in registry.plugins and not [f for f in registry.failures if f.plugin == "rules"]
    assert registry.plugins["rules"].hooks == ["register_rewards"]


def test_length_inside_and_outside_bounds():
    words = LengthSource(min=3, max=5)
    texts = ["one two", "one two three", "one two three four five", "a b c d e f g h i j"]
    assert words.score([""] * 4, texts) == [pytest.approx(2 / 3), 1.0, 1.0, 0.5]
    assert LengthSource(min=3, max=5, outside="zero").score([""] * 4, texts) == [0.0, 1.0, 1.0, 0.0]
    chars = LengthSource(max=4, unit="chars")
    assert chars.score(["", ""], ["abcd", "abcdefgh"]) == [1.0, 0.5]
    assert LengthSource(min=2).score([""], [""]) == [0.0]
    assert words.details([""], ["one two"]) == [{"words": 2}]


@pytest.mark.parametrize(
    "options, key",
    [({}, "'min', 'max'"), ({"min": 5, "max": 2}, "'min' (5)"), ({"min": -1}, "'min'"), ({"max": 3, "unit": "tokens"}, "'unit'"),
     ({"max": 3, "outside": "linear"}, "'outside'")],
)
def test_length_bad_options(options, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        LengthSource(**options)


def test_repetition():
    source = RepetitionSource(n=2)
    fresh, loop, short = "every word here differs from the rest", "the cat the cat the cat the cat", "hi"
    scores = source.score([""] * 3, [fresh, loop, short])
    assert scores[0] == 1.0 and scores[2] == 1.0
    assert scores[1] == pytest.approx(2 / 7)  # 7 bigrams, 2 distinct ("the cat", "cat the")
    assert RepetitionSource(n=1).score([""], ["Echo echo ECHO"]) == [pytest.approx(1 / 3)]  # case-insensitive
    with pytest.raises(ConfigError, match="'n'"):
        RepetitionSource(n=0)


def test_json_valid():
    source = JsonValidSource()
    texts = ['{"a": 1}', '```json\n{"a": 1}\n```', "```\n[1, 2]\n```", "{'a': 1}", "Here you go: {\"a\": 1}", ""]
    assert source.score([""] * 6, texts) == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert JsonValidSource(allow_fences=False).score([""] * 2, texts[:2]) == [1.0, 0.0]
    keyed = JsonValidSource(required_keys=["name", "age"])
    assert keyed.score([""] * 3, ['{"name": "x", "age": 3}', '{"name": "x"}', '["name", "age"]']) == [1.0, 0.0, 0.0]
    with pytest.raises(ConfigError, match="required_keys"):
        JsonValidSource(required_keys=[1])


def test_regex_must_and_must_not():
    source = RegexSource(must=[r"\bthanks\b", r"\d+"], must_not=[r"(?i)as an ai"], reward="all")
    texts = ["thanks, it costs 5", "thanks, it is free", "As an AI, thanks for 3"]
    assert source.score([""] * 3, texts) == [1.0, 0.0, 0.0]
    fraction = RegexSource(must=[r"\bthanks\b", r"\d+"], must_not=[r"(?i)as an ai"], reward="fraction")
    assert fraction.score([""] * 3, texts) == [1.0, pytest.approx(2 / 3), pytest.approx(2 / 3)]
    assert RegexSource(must="^yes", ignore_case=True).score(["", ""], ["Yes indeed", "no"]) == [1.0, 0.0]
    assert RegexSource(must_not="^- ", multiline=True).score([""], ["intro\n- item"]) == [0.0]
    assert fraction.details([""], ["thanks 2"]) == [{r"must:\bthanks\b": True, r"must:\d+": True, "must_not:(?i)as an ai": True}]


def test_regex_bad_options_name_the_option():
    with pytest.raises(ConfigError, match=r"option 'must_not\[1\]' is not a valid regular expression"):
        RegexSource(must_not=["ok", "(unclosed"])
    with pytest.raises(ConfigError, match="set option 'must', 'must_not'"):
        RegexSource()
    with pytest.raises(ConfigError, match="'reward'"):
        RegexSource(must="x", reward="mean")
