"""The composite reward: weights, NaN-aware sum, normalisation, vetoes, clip, failure policy,
statistics, cache and checkpointable state, with small real sources registered as a plugin."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pytest

import rlit
from rlit.errors import ConfigError, DataError, PluginError, SourceError
from rlit.plugins import load_reward

CALLS: list[tuple[str, int]] = []  # (source name, rows scored) per call


class Length(rlit.RewardSource):
    name = "t-length"
    description = "number of characters"

    def __init__(self, scale: float = 1.0):
        self.scale = float(scale)

    def score(self, prompts, completions, **columns):
        CALLS.append((self.name, len(completions)))
        return [len(c) * self.scale for c in completions]

    def details(self, prompts, completions, **columns):
        return [{"chars": len(c)} for c in completions]


class ShortIsNone(rlit.RewardSource):
    name = "t-short-none"
    description = "1.0, or None for completions under 3 characters"

    def score(self, prompts, completions, **columns):
        return [None if len(c) < 3 else 1.0 for c in completions]


class Harm(rlit.RewardSource):
    name = "t-harm"
    description = "fraction of 'x' characters"
    higher_is_better = False

    def score(self, prompts, completions, **columns):
        return [c.count("x") / max(len(c), 1) for c in completions]


class Faulty(rlit.RewardSource):
    name = "t-faulty"
    description = "misbehaves as told"

    def __init__(self, mode: str = "raise", delay: float = 2.0):
        self.mode, self.delay = mode, delay

    def score(self, prompts, completions, **columns):
        CALLS.append((self.name, len(completions)))
        if self.mode == "raise":
            raise RuntimeError("boom")
        if self.mode == "short":
            return [1.0] * (len(completions) - 1)
        if self.mode in ("nan", "inf"):
            return [float(self.mode)] + [1.0] * (len(completions) - 1)
        if self.mode == "text":
            return ["high"] * len(completions)
        if self.mode == "slow":
            time.sleep(self.delay)
        return [1.0] * len(completions)


class NeedsRef(rlit.RewardSource):
    name = "t-needs-ref"
    description = "1.0 when the completion equals the 'ref' column"
    columns = ("ref",)

    def score(self, prompts, completions, ref, **columns):
        return [float(c == r) for c, r in zip(completions, ref)]


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        for cls in (Length, ShortIsNone, Harm, Faulty, NeedsRef):
            register(cls)


@pytest.fixture
def reg(temp_plugin):
    CALLS.clear()
    return temp_plugin(Plugin(), "composite-test")


def build(reg, sources, **top):
    return load_reward({"sources": sources, "cache_size": 0, **top}, registry=reg)


def test_weighted_nan_aware_sum(reg):
    cr = build(reg, [{"name": "t-length", "weight": 0.5}, {"name": "t-short-none", "weight": 2.0}])
    res = cr.score_batch(["p"] * 3, ["abcd", "ab", ""], )
    assert res.per_source["t-short-none"][1] != res.per_source["t-short-none"][1]  # NaN for None
    assert res.total[:2] == [0.5 * 4 + 2.0, 0.5 * 2]
    assert res.total[2] == 0.0  # length 0 is a score, not "no score"
    only_none = build(reg, [{"name": "t-short-none"}])
    out = only_none.score_batch(["p", "p"], ["abc", "a"])
    assert out.total[0] == 1.0 and math.isnan(out.total[1])  # no source scored row 1
    assert only_none(prompts=["p", "p"], completions=["abc", "a"]) == [1.0, None]


def test_signs_are_not_flipped_weights_carry_them(reg):
    cr = build(reg, [{"name": "t-harm", "weight": -1.0}])
    assert cr.score_batch(["p"], ["xxab"]).total == [-0.5]
    assert build(reg, [{"name": "t-harm", "weight": 1.0}]).score_batch(["p"], ["xxab"]).total == [0.5]


def test_batch_normalisation_is_a_z_score(reg):
    cr = build(reg, [{"name": "t-length", "normalize": "batch"}])
    res = cr.score_batch(["p"] * 4, ["a", "bb", "ccc", "dddd"])
    assert np.mean(res.total) == pytest.approx(0.0) and np.std(res.total) == pytest.approx(1.0)
    assert res.per_source["t-length"] == [1.0, 2.0, 3.0, 4.0]  # raw scores are kept
    assert build(reg, [{"name": "t-length", "normalize": "batch"}]).score_batch(["p"] * 2, ["aa", "bb"]).total == [0.0, 0.0]


def test_running_normalisation_keeps_state_across_batches_and_checkpoints(reg):
    config = [{"name": "t-length"}]
    cr = build(reg, config, normalize="running")
    cr.score_batch(["p"] * 2, ["a", "bbb"])
    second = cr.score_batch(["p"] * 2, ["bb", "cccc"])
    seen = np.array([1.0, 3.0, 2.0, 4.0])
    assert second.total == pytest.approx(list((np.array([2.0, 4.0]) - seen.mean()) / seen.std()))
    restored = build(reg, config, normalize="running")
    fresh = build(reg, config, normalize="running")
    restored.load_state_dict(cr.state_dict())
    batch = (["p"] * 2, ["a", "dddddd"])
    assert restored.score_batch(*batch).total == cr.score_batch(*batch).total
    assert fresh.score_batch(*batch).total != cr.score_batch(*batch).total


def test_veto_above_and_below_then_clip(reg):
    cr = build(reg, [
        {"name": "t-length", "weight": 1.0},
        {"name": "t-harm", "weight": -1.0, "veto": {"above": 0.4, "penalty": -10.0}},
        {"name": "t-short-none", "weight": 0.0, "veto": {"below": 2.0, "penalty": -3.0}},
    ], clip=5.0)
    res = cr.score_batch(["p"] * 3, ["xxxab", "abcdefgh", "abc"])
    assert res.vetoed_by == ["t-harm", "t-short-none", "t-short-none"]
    assert res.total == [-5.0, -3.0, -3.0]  # the harsher penalty wins, clip applies after vetoes
    assert res.stats["t-harm"]["n_vetoed"] == 1 and res.summary()["n_vetoed"] == 3


def test_stats_mean_std_share(reg):
    cr = build(reg, [{"name": "t-length", "weight": 1.0}, {"name": "t-harm", "weight": -3.0}])
    res = cr.score_batch(["p"] * 2, ["xa", "abcd"])
    length, harm = res.stats["t-length"], res.stats["t-harm"]
    assert length["mean"] == 3.0 and length["std"] == 1.0 and length["n_scored"] == 2
    assert harm["share"] == pytest.approx(1.5 / 7.5) and length["share"] == pytest.approx(6 / 7.5)
    assert harm["contribution"] == pytest.approx(-0.75) and harm["weight"] == -3.0


@pytest.mark.parametrize("mode, problem", [
    ("raise", "raised RuntimeError: boom"),
    ("short", "returned 2 values for 3 completions"),
    ("nan", "returned nan for row 0"),
    ("inf", "returned inf for row 0"),
    ("text", "returned 'high' for row 0: not a number"),
])
def test_faulty_source_fails_the_run_naming_it(reg, mode, problem):
    cr = build(reg, [{"name": "t-length"}, {"name": "t-faulty", "options": {"mode": mode}}])
    with pytest.raises(SourceError, match=f"reward source 't-faulty': .*{problem}"):
        cr.score_batch(["p"] * 3, ["a", "b", "c"])


@pytest.mark.parametrize("mode", ["raise", "short", "nan", "slow"])
def test_faulty_source_skipped_is_reported_not_silent(reg, mode, caplog):
    options = {"mode": mode, "delay": 1.0}
    cr = build(reg, [{"name": "t-length"}, {"name": "t-faulty", "options": options, "on_error": "skip", "timeout": 0.2}])
    with caplog.at_level(logging.WARNING, logger="rlit.rewards"):
        res = cr.score_batch(["p"] * 3, ["a", "bb", "ccc"])
    assert all(math.isnan(v) for v in res.per_source["t-faulty"])
    assert res.total == [1.0, 2.0, 3.0]  # the other source still counts
    assert len(res.stats["t-faulty"]["errors"]) == 1 and "t-faulty" in res.stats["t-faulty"]["errors"][0]
    assert "t-faulty" in caplog.text and "no score" in caplog.text


def test_time_out_fails_the_run_by_default(reg):
    cr = build(reg, [{"name": "t-faulty", "options": {"mode": "slow", "delay": 1.0}, "timeout": 0.1}])
    with pytest.raises(SourceError, match=r"'t-faulty': timed out after 0.1 s"):
        cr.score_batch(["p"], ["a"])


def test_cache_makes_rescoring_free_and_tracks_columns(reg, tmp_path):
    config = {"sources": [{"name": "t-length"}], "cache_dir": str(tmp_path / "cache")}
    cr = load_reward(config, registry=reg)
    first = cr.score_batch(["p", "q"], ["aa", "bbb"], ref=["x", "y"])
    assert CALLS == [("t-length", 2)]
    again = cr.score_batch(["p", "q", "p"], ["aa", "bbb", "aa"], ref=["x", "y", "changed"])
    assert CALLS == [("t-length", 2), ("t-length", 1)]  # only the row whose column changed
    assert again.per_source["t-length"] == [2.0, 3.0, 2.0] and first.per_source["t-length"] == [2.0, 3.0]
    cr.close()
    on_disk = load_reward(config, registry=reg)  # a new process would see the same
    on_disk.score_batch(["p", "q"], ["aa", "bbb"], ref=["x", "y"])
    assert len(CALLS) == 2
    other_options = load_reward({**config, "sources": [{"name": "t-length", "options": {"scale": 2.0}}]}, registry=reg)
    assert other_options.score_batch(["p"], ["aa"]).total == [4.0]


def test_failures_are_not_cached(reg):
    cr = load_reward({"sources": [{"name": "t-faulty", "options": {"mode": "raise"}, "on_error": "skip"}]}, registry=reg)
    cr.score_batch(["p"], ["a"])
    cr.score_batch(["p"], ["a"])
    assert CALLS == [("t-faulty", 1), ("t-faulty", 1)]


def test_unknown_option_lists_the_valid_ones(reg):
    with pytest.raises(ConfigError, match=r"sources\[0\]\.options\.mdoe: unknown option .*did you mean 'mode'.*valid options: mode \(str, default 'raise'\), delay"):
        build(reg, [{"name": "t-faulty", "options": {"mdoe": "nan"}}])


def test_options_for_a_source_without_any(reg):
    with pytest.raises(ConfigError, match=r"unknown option for reward source 't-short-none'; valid options: none"):
        build(reg, [{"name": "t-short-none", "options": {"level": 2}}])


def test_unknown_source_name_suggests_close_matches(reg):
    with pytest.raises(PluginError, match=r"sources\[0\]\.name: unknown reward source 't-lenght'; did you mean 't-length'"):
        build(reg, [{"name": "t-lenght"}])


def test_option_of_the_wrong_type_is_a_config_error_naming_the_key(reg):
    with pytest.raises(ConfigError, match=r"sources\[0\]\.options\.scale: Input should be a valid number \(got \[1, 2\]; expected float\)"):
        build(reg, [{"name": "t-length", "options": {"scale": [1, 2]}}])


def test_columns_reach_sources_and_are_checked(reg):
    cr = build(reg, [{"name": "t-needs-ref"}])
    assert cr.score_batch(["p", "p"], ["a", "b"], ref=["a", "x"]).total == [1.0, 0.0]
    with pytest.raises(DataError, match="'t-needs-ref' needs column 'ref'"):
        cr.score_batch(["p"], ["a"])
    with pytest.raises(DataError, match="column 'ref' must be a list of 2 values"):
        cr.score_batch(["p", "p"], ["a", "b"], ref=["a"])


def test_source_details_and_trl_metrics(reg):
    cr = build(reg, [{"name": "t-length"}, {"name": "t-short-none", "label": "present"}])
    assert cr.source_details(["p"], ["abc"]) == {"t-length": [{"chars": 3}], "present": [{}]}
    logged = {}
    out = cr(prompts=[[{"role": "user", "content": "hi"}]], completions=[[{"role": "assistant", "content": "abcd"}]],
             trainer_state=None, log_metric=lambda k, v: logged.__setitem__(k, v), completion_ids=[[1, 2]])
    assert out == [5.0]
    assert logged["rlit/t-length/mean"] == 4.0 and logged["rlit/present/share"] == pytest.approx(0.2)
