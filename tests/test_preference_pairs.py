"""`rlit train preference-pairs`: ranking candidates with real reward sources, ties, resume, a real policy."""

from __future__ import annotations

import json

import pytest

import rlit
from rlit.errors import ConfigError
from rlit.training.preference_data import read_pairs
from rlit.training.preference_pairs import build_preference_pairs, load_preference_pairs_config


class WordCount(rlit.RewardSource):
    """Number of words, or None for an empty completion; needs the `bonus` column to prove columns arrive."""

    name = "test-word-count"
    description = "words in the completion plus the row's bonus"

    def score(self, prompts, completions, **columns):
        return [None if not c.strip() else len(c.split()) + b for c, b in zip(completions, columns["bonus"])]


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(WordCount)


ROWS = [
    {"key": "a", "prompt": "Tell me about rivers.", "bonus": 0, "answers": ["Rivers flow downhill to the sea.", "Wet.", "Rivers are long."]},
    {"key": "b", "prompt": "Two words please.", "bonus": 1, "answers": ["one two", "three four"]},  # a tie
    {"key": "c", "prompt": "Only one answer.", "bonus": 0, "answers": ["single", ""]},  # one scorable candidate
    {"key": "d", "prompt": "Describe snow.", "bonus": 5, "answers": ["Cold.", "Snow is frozen water falling as flakes."]},
]


def write_prompts(path, rows=ROWS):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def config(tmp_path, **extra):
    data = {
        "prompts": str(write_prompts(tmp_path / "prompts.jsonl")), "output_file": str(tmp_path / "pairs.jsonl"),
        "candidate_columns": ["answers"], "reward": {"sources": [{"name": "test-word-count"}]}, **extra,
    }
    return load_preference_pairs_config(data)


def test_best_versus_worst_ties_dropped_and_counted(tmp_path, temp_plugin):
    registry = temp_plugin(Plugin(), "test-word-count")
    result = build_preference_pairs(config(tmp_path), log=lambda m: None, registry=registry)
    assert (result.prompts_done, result.pairs_written, result.ties, result.unscored) == (4, 2, 1, 1)
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    by_key = {r["key"]: r for r in rows}
    assert by_key["a"]["chosen"] == "Rivers flow downhill to the sea." and by_key["a"]["rejected"] == "Wet."
    assert by_key["d"]["margin"] == pytest.approx(6.0) and by_key["d"]["chosen_score"] == pytest.approx(12.0)
    assert by_key["d"]["bonus"] == 5  # the prompt's columns travel with the pair
    assert [p.prompt for p in read_pairs(tmp_path / "pairs.jsonl")] == ["Tell me about rivers.", "Describe snow."]


def test_min_margin_drops_near_ties(tmp_path, temp_plugin):
    registry = temp_plugin(Plugin(), "test-word-count")
    result = build_preference_pairs(config(tmp_path, min_margin=5.0), log=lambda m: None, registry=registry)
    assert result.pairs_written == 1 and result.ties == 2


def test_resume_skips_done_prompts_and_refuses_another_config(tmp_path, temp_plugin):
    registry = temp_plugin(Plugin(), "test-word-count")
    first = build_preference_pairs(config(tmp_path, limit=2, chunk_prompts=1), log=lambda m: None, registry=registry)
    assert first.prompts_done == 2 and first.pairs_written == 1
    second = build_preference_pairs(config(tmp_path, chunk_prompts=1), log=lambda m: None, registry=registry)
    assert second.resumed == 2 and second.prompts_done == 2
    keys = [json.loads(line)["key"] for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert keys == ["a", "d"]
    with pytest.raises(ConfigError, match="different config"):
        build_preference_pairs(config(tmp_path, min_margin=1.0), log=lambda m: None, registry=registry)


def test_config_errors_name_the_file(tmp_path):
    cfg = tmp_path / "pp.toml"
    cfg.write_text('prompts = "p.jsonl"\noutput_file = "o.jsonl"\nreward = "r.toml"\n')
    with pytest.raises(ConfigError, match="pp.toml: give 'policy'"):
        load_preference_pairs_config(cfg)
    cfg.write_text('prompts = "p.jsonl"\noutput_file = "o.jsonl"\nreward = "r.toml"\npolicy = "x"\nsample = 3\n')
    with pytest.raises(ConfigError, match=r"pp.toml: unknown key 'sample' \(did you mean 'samples'\?\)"):
        load_preference_pairs_config(cfg)


def test_samples_candidates_from_a_real_policy(tmp_path, temp_plugin, tiny_policy_dir):
    registry = temp_plugin(Plugin(), "test-word-count")
    rows = [{"key": "x", "prompt": "Once upon a time", "bonus": 0, "answers": ["The end."]}]
    write_prompts(tmp_path / "one.jsonl", rows)
    cfg = load_preference_pairs_config({
        "prompts": str(tmp_path / "one.jsonl"), "output_file": str(tmp_path / "pairs.jsonl"), "policy": str(tiny_policy_dir),
        "samples": 3, "max_new_tokens": 6, "candidate_columns": ["answers"], "reward": {"sources": [{"name": "test-word-count"}]},
    })
    result = build_preference_pairs(cfg, log=lambda m: None, registry=registry)
    assert result.prompts_done == 1
    assert any((tmp_path / "pairs.jsonl.cache").rglob("*.jsonl"))  # generations are cached for resume
    if result.pairs_written:
        row = json.loads((tmp_path / "pairs.jsonl").read_text().splitlines()[0])
        assert row["n_candidates"] >= 2 and row["chosen"] != row["rejected"]


@pytest.mark.slow  # lm-eval's IFEval checkers take several seconds to import
def test_ifeval_source_ranks_instruction_prompts(tmp_path, registry):
    if "ifeval" not in registry.sources:
        pytest.skip("rlit-rules (the ifeval source) is not installed")
    rows = [{"key": "lc", "prompt": "Answer in lowercase only: what is a river?", "instruction_id_list": ["change_case:english_lowercase"],
             "kwargs": [{}], "answers": ["A River Is Flowing Water.", "a river is flowing water."]}]
    write_prompts(tmp_path / "if.jsonl", rows)
    cfg = load_preference_pairs_config({
        "prompts": str(tmp_path / "if.jsonl"), "output_file": str(tmp_path / "pairs.jsonl"), "candidate_columns": ["answers"],
        "reward": {"sources": [{"name": "ifeval"}]},
    })
    result = build_preference_pairs(cfg, log=lambda m: None, registry=registry)
    assert result.pairs_written == 1
    row = json.loads((tmp_path / "pairs.jsonl").read_text())
    assert row["chosen"] == "a river is flowing water." and row["instruction_id_list"] == ["change_case:english_lowercase"]
