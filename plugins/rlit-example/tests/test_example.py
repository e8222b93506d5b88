"""Tests of the example plugin, as a plugin author would write them."""

import pytest

import rlit
from rlit_example import Lowercase


def test_scores_fraction_of_lowercase_letters():
    src = Lowercase()
    assert src.score(["p"] * 3, ["hello", "HELLO", "Hello"]) == [1.0, 0.0, 0.8]


def test_too_few_letters_is_not_applicable():
    assert Lowercase(min_letters=3).score(["p", "p"], ["ok", "123 abc"]) == [None, 1.0]


def test_bad_option_is_rejected():
    with pytest.raises(ValueError, match="min_letters"):
        Lowercase(min_letters=0)


def test_is_a_trl_reward_function():
    # TRL passes conversational completions and extra keywords; the base class adapts them.
    out = Lowercase()(prompts=["p"], completions=[[{"role": "assistant", "content": "QUIET please"}]], trainer_state=None)
    assert out == [pytest.approx(6 / 11)]


def test_registered_through_the_entry_point(registry):
    # Installed with pip (scripts/setup.sh), the plugin is found through the `rlit` entry point.
    assert registry.source_class("example-lowercase") is Lowercase
    assert registry.sources["example-lowercase"].distribution == "rlit-example"
    assert isinstance(Lowercase(), rlit.RewardSource)


# rlit.testing: the helpers a plugin author's own test suite gets with rlit installed.

def test_meets_the_reward_source_contract():
    from rlit.testing import check_source

    failed = [r for r in check_source(Lowercase, {"min_letters": 2}) if not r.ok]
    assert failed == []


def test_a_temporary_plugin_is_registered_then_removed(rlit_temp_plugin):
    # rlit_temp_plugin comes from rlit's pytest plugin (entry point pytest11 "rlit"), no conftest needed.
    class Shouting(Lowercase):
        name = "example-shouting"

    class Plugin:
        @rlit.hookimpl
        def register_rewards(self, register):
            register(Shouting)

    registry = rlit_temp_plugin(Plugin(), "shouting")
    assert registry.source_class("example-shouting") is Shouting
