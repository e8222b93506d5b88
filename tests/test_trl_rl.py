"""GRPO and RLOO stages: real TRL trainer steps with the composite reward as the reward function."""

import json

import pytest

import rlit
from rlit.errors import ConfigError
from rlit.training.trl_rl import TRLRLConfig, train_trl_rl

SEEN: list[dict] = []


class KwargsEcho(rlit.RewardSource):
    """Rewards short completions and records the columns it was given."""

    name = "test-kwargs-echo"

    def score(self, prompts, completions, **columns):
        SEEN.append(columns)
        return [1.0 / (1 + len(c)) for c in completions]


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(KwargsEcho)


@pytest.mark.parametrize("algorithm", ["grpo", "rloo"])
def test_one_step_with_composite_reward(tmp_path, tiny_policy_dir, temp_plugin, algorithm):
    temp_plugin(Plugin(), "kwargs-echo")
    kwargs = [[{"num_words": 3}, {}], [{"keywords": ["a", "b"]}]]
    rows = [{"prompt": f"Say something {i}.", "kwargs": kwargs[i % 2], "topic": "x"} for i in range(4)]
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps(r) for r in rows))
    SEEN.clear()
    cfg = TRLRLConfig(
        model=str(tiny_policy_dir), prompts_file=str(prompts), output_dir=str(tmp_path / "out"),
        reward={"sources": [{"name": "test-kwargs-echo", "weight": 1.0}]},
        max_steps=1, batch_size=4, num_generations=2, max_completion_length=6, logging_steps=1,
    )
    result = train_trl_rl(cfg, algorithm)
    assert result["steps"] == 1
    assert result["log"] and "rlit/test-kwargs-echo/mean" in result["log"][0]
    # nested columns arrive exactly as written (Arrow would have merged the dicts' keys)
    assert all(k in (kwargs[0], kwargs[1]) for batch in SEEN for k in batch["kwargs"])
    assert (tmp_path / "out" / "config.json").exists()


def test_reward_must_be_given_once(tmp_path, tiny_policy_dir):
    cfg = TRLRLConfig(model=str(tiny_policy_dir), prompts_file="p.jsonl", output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="exactly one of reward_config"):
        train_trl_rl(cfg, "grpo")
