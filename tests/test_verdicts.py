"""Per-instruction verdicts are declared by the source (``RewardSource.verdicts``), not known to the
core by key: prompt_level / instruction_level aggregate whatever keys the source declares."""

from __future__ import annotations

import pytest

import rlit
from rlit.errors import ConfigError
from rlit.evaluation.metrics import Scorer, aggregate
from rlit.evaluation.suite import AggregateSpec, MetricSpec


class Checks(rlit.RewardSource):
    """Verdicts under its own key names: one check per expected word, ids from the row's column."""

    name = "t-checks"
    verdicts = rlit.Verdicts(key="passed", ids="checks", group_separator="/")

    def score(self, prompts, completions, **columns):
        return [float(all(w in c for w in ws)) for c, ws in zip(completions, columns["checks"])]

    def details(self, prompts, completions, **columns):
        return [{"passed": [w.split("/")[1] in c for w in ws]} for c, ws in zip(completions, columns["checks"])]


class Plain(rlit.RewardSource):
    name = "t-plain"

    def score(self, prompts, completions, **columns):
        return [1.0 for _ in completions]


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(Checks)
        register(Plain)


def test_instruction_level_reads_the_declared_keys(temp_plugin):
    temp_plugin(Plugin(), "t-verdicts")
    rows = [{"key": "a", "prompt": "p", "checks": ["word/cat", "word/dog", "case/Cat"]},
            {"key": "b", "prompt": "p", "checks": ["word/owl"]}]
    scorer = Scorer(MetricSpec(source="t-checks"), need_details=True)
    scored = scorer.score(["p", "p"], ["a cat", "an owl"], {"checks": [r["checks"] for r in rows]})
    assert scored.details[0]["followed"] == [True, False, False]
    inst = aggregate(AggregateSpec(method="instruction_level"), rows, scored, 1)
    assert inst.value == pytest.approx(2 / 4)
    assert dict(inst.breakdown["type:word"]) == {"value": pytest.approx(2 / 3), "n": 3}
    assert dict(inst.breakdown["case/Cat"]) == {"value": 0.0, "n": 1}
    assert aggregate(AggregateSpec(method="prompt_level"), rows, scored, 1).value == pytest.approx(0.5)


def test_instruction_level_on_a_source_that_declares_none_is_a_config_error(temp_plugin):
    temp_plugin(Plugin(), "t-verdicts")
    with pytest.raises(ConfigError, match=r"^s.toml: evals \('inst'\).metric: .*'t-plain' declares none"):
        Scorer(MetricSpec(source="t-plain"), need_details=True, origin="s.toml: evals ('inst').metric")
