"""A reward source instance, and a CompositeReward, are TRL reward functions as they are: one
real GRPOTrainer step on the tiny GPT-2, and the adapter's handling of TRL's keywords."""

from __future__ import annotations

import math

import pytest

import rlit
from rlit.plugins import load_reward

CALLS: list[dict] = []


class Vowels(rlit.RewardSource):
    name = "t-vowels"
    description = "fraction of vowel characters"

    def score(self, prompts, completions, **columns):
        CALLS.append({"prompts": prompts, "completions": completions, "columns": columns})
        return [sum(ch in "aeiou" for ch in c) / max(len(c), 1) for c in completions]


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(Vowels)


def test_adapter_turns_conversations_into_text_and_drops_trl_keywords():
    CALLS.clear()
    out = Vowels()(
        prompts=[[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                  {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}]],
        completions=[[{"role": "assistant", "content": "aa"}]],
        completion_ids=[[1, 2]], trainer_state=object(), log_metric=print, log_extra=print, topic=["greeting"],
    )
    assert out == [1.0]
    # the prompt a source sees is the last user turn; the completion is the assistant's text
    assert CALLS == [{"prompts": ["again"], "completions": ["aa"], "columns": {"topic": ["greeting"]}}]
    assert Vowels().__name__ == "t-vowels"


def test_real_grpo_step_with_a_source_and_a_composite(tiny_policy_dir, temp_plugin, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    CALLS.clear()
    reg = temp_plugin(Plugin(), "trl-test")
    composite = load_reward({"sources": [{"name": "t-vowels", "weight": 2.0}]}, registry=reg)
    data = Dataset.from_dict({"prompt": ["Once upon a time", "The weather today"] * 2, "topic": ["story", "weather"] * 2})
    args = GRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, max_steps=1, per_device_train_batch_size=2,
        num_generations=2, max_completion_length=8, report_to=[], logging_steps=1, save_strategy="no",
        learning_rate=1e-4, seed=0, activation_checkpointing=False,
    )
    trainer = GRPOTrainer(model=str(tiny_policy_dir), reward_funcs=[Vowels(), composite], args=args, train_dataset=data)
    trainer.train()
    assert len(CALLS) == 2  # once as a reward function, once inside the composite
    for call in CALLS:
        assert len(call["completions"]) == 2 and all(isinstance(c, str) for c in call["completions"])
        assert set(call["columns"]) == {"topic"}  # only dataset columns, none of TRL's extras
    logged = trainer.state.log_history[0]
    assert math.isfinite(logged["rewards/t-vowels/mean"]) and math.isfinite(logged["rewards/rlit-composite/mean"])
    assert logged["rewards/rlit-composite/mean"] == pytest.approx(2 * logged["rewards/t-vowels/mean"], rel=1e-5)
    assert "rlit/t-vowels/share" in logged  # per-source attribution reaches TRL's logs
