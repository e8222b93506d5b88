"""PPO on a real tiny GPT-2: rollout mechanics, config errors, a smoke run through the CLI path,
and a learning test (the reward of a simple rule rises)."""

from __future__ import annotations

import json
import math
import textwrap

import pytest
import torch

import rlit
from rlit.errors import ConfigError


class UpperShare(rlit.RewardSource):
    """Share of letters that are upper case (a rule a tiny policy can learn in a few dozen steps)."""

    name = "upper-share"

    def score(self, prompts, completions, **columns):
        out = []
        for c in completions:
            letters = [ch for ch in c if ch.isalpha()]
            out.append(sum(ch.isupper() for ch in letters) / len(letters) if letters else None)
        return out


class DotCount(rlit.RewardSource):
    """Number of '.' characters per completion, over 8 (capped at 1): a rule rewarding one token."""

    name = "dot-count"

    def score(self, prompts, completions, **columns):
        return [min(1.0, c.count(".") / 8) for c in completions]


class NeedsTopic(rlit.RewardSource):
    """Scores 1 when the row's topic column arrived, None (unscorable) for topic 'skip'."""

    name = "needs-topic"

    def score(self, prompts, completions, topic=None, **columns):
        assert topic is not None and len(topic) == len(completions)
        return [None if t == "skip" else 1.0 for t in topic]


class TestPlugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(UpperShare)
        register(DotCount)
        register(NeedsTopic)


def peaked_policy(src, dst, scale: float = 5.0):
    """The tiny GPT-2 with its (tied) embeddings scaled: next-token entropy ~4 nats instead of a
    near-uniform 10.8, like a trained LM, so a rule reward has likely tokens to move between."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src)
    with torch.no_grad():
        model.transformer.wte.weight.mul_(scale)
    model.save_pretrained(dst)
    AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    return dst


def write_prompts(path, n=32, topics=("a", "b")):
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"Say something about thing {i}.", "topic": topics[i % len(topics)]}) + "\n")
    return path


def config(tmp_path, policy, **overrides):
    from rlit.training.ppo.config import ppo_config_from_dict

    data = {
        "model": {"policy": str(policy), "device": "cpu"},
        "data": {"train": str(write_prompts(tmp_path / "prompts.jsonl"))},
        "generation": {"max_new_tokens": 8, "temperature": 1.0},
        "ppo": {"steps": 2, "batch_size": 4, "ppo_epochs": 1, "learning_rate": 1e-3},
        "output": {"dir": str(tmp_path / "run"), "save_every": 0},
        "reward": {"sources": [{"name": "upper-share"}]},
    }
    for key, value in overrides.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) and key != "reward" else value
    return ppo_config_from_dict(data, "test.toml")


# -- rollout ---------------------------------------------------------------------------------


class ForceEOSAfter(torch.nn.Module):
    """Wraps a causal LM so EOS becomes (almost) certain once ``k`` tokens were generated."""

    def __init__(self, model, eos, prompt_len, k):
        super().__init__()
        self.model, self.eos, self.prompt_len, self.k = model, eos, prompt_len, k

    def forward(self, input_ids, attention_mask, **kw):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
        if attention_mask.shape[1] - self.prompt_len >= self.k:
            out.logits[..., self.eos] += 100.0
        return out


def test_rollout_stops_at_eos_and_logprobs_match_a_full_forward(tiny_policy_dir):
    from rlit.lm.loading import load_causal_lm
    from rlit.training.ppo.rollout import encode_prompts, sample_responses, token_logprobs

    model, tok = load_causal_lm(str(tiny_policy_dir))
    ids, mask = encode_prompts(tok, ["Hello there, how are you?", "Hi"], False, 64, torch.device("cpu"))
    forced = ForceEOSAfter(model, tok.eos_token_id, ids.shape[1], 3)
    out = sample_responses(forced, ids, mask, max_new_tokens=10, temperature=0.7, top_p=0.9,
                           eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                           generator=torch.Generator().manual_seed(0))
    resp, rmask = out.response_ids, out.response_mask
    assert resp.shape == (2, 4)  # 3 free tokens + EOS, then every row is done: generation stopped
    assert rmask.tolist() == [[True] * 4, [True] * 4]
    assert (resp[:, 3] == tok.eos_token_id).all()
    # no forcing: 6 tokens, and the sampled log-probs equal a full forward's over left-padded prompts
    out = sample_responses(model, ids, mask, max_new_tokens=6, temperature=0.7, top_p=1.0,
                           eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                           generator=torch.Generator().manual_seed(0))
    resp, rmask, logp = out.response_ids, out.response_mask, out.logprobs
    full = torch.cat([ids, resp], 1)
    with torch.no_grad():
        again, _, _ = token_logprobs(model, full, torch.cat([mask, rmask.long()], 1), 6, 0.7)
    assert torch.allclose(again, logp, atol=1e-4)


def test_chat_template_is_used_when_the_tokenizer_has_one(tiny_policy_dir):
    from rlit.lm.loading import load_tokenizer
    from rlit.training.ppo.rollout import format_prompts

    tok = load_tokenizer(str(tiny_policy_dir))
    assert format_prompts(tok, ["hi"], "auto") == (["hi"], False)
    with pytest.raises(ConfigError, match="no chat template"):
        format_prompts(tok, ["hi"], "always")
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
    assert format_prompts(tok, ["hi"], "auto") == (["<user>hi<assistant>"], True)
    assert format_prompts(tok, ["hi"], "never") == (["hi"], False)


# -- configs ---------------------------------------------------------------------------------


def test_config_errors_name_file_and_key(tmp_path):
    from rlit.training.ppo.config import load_ppo_config

    path = tmp_path / "bad.toml"
    path.write_text('[model]\npolicy = "x"\n[data]\ntrain = "p.jsonl"\n[ppo]\nkl_coeff = 0.1\n[[reward.sources]]\nname = "length"\n')
    with pytest.raises(ConfigError, match=r"bad.toml: \[ppo\]: unknown key 'kl_coeff' \(did you mean 'kl_coef'\?\)"):
        load_ppo_config(path)
    path.write_text('[model]\npolicy = "x"\n[data]\ntrain = "p.jsonl"\n[ppo]\nsteps = "many"\n[[reward.sources]]\nname = "length"\n')
    with pytest.raises(ConfigError, match=r"bad.toml: \[ppo\] steps: Input should be a valid integer"):
        load_ppo_config(path)
    path.write_text('[model]\npolicy = "x"\n[data]\ntrain = "p.jsonl"\n')
    with pytest.raises(ConfigError, match="no reward"):
        load_ppo_config(path)
    path.write_text('reward_config = "missing.toml"\n[model]\npolicy = "x"\n[data]\ntrain = "p.jsonl"\n')
    with pytest.raises(ConfigError, match="reward_config.*file not found"):
        load_ppo_config(path)
    path.write_text('[modle]\npolicy = "x"\n')
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        load_ppo_config(path)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    from rlit.training.ppo.config import load_ppo_config

    (tmp_path / "reward.toml").write_text('[[sources]]\nname = "length"\n')
    (tmp_path / "run.toml").write_text('reward_config = "reward.toml"\n[model]\npolicy = "builtin:tiny-gpt2"\n[data]\ntrain = "p.jsonl"\n[output]\ndir = "out"\n')
    cfg = load_ppo_config(tmp_path / "run.toml")
    assert cfg.model.policy == "builtin:tiny-gpt2"
    assert cfg.data.train == str(tmp_path / "p.jsonl")
    assert cfg.output.dir == str(tmp_path / "out")
    assert cfg.reward == str(tmp_path / "reward.toml")


# -- training --------------------------------------------------------------------------------


def test_smoke_run_logs_every_step_and_masks_unscorable_rows(tmp_path, tiny_policy_dir, temp_plugin):
    from rlit.training.ppo.steplog import read_steps
    from rlit.training.ppo.trainer import train_ppo

    temp_plugin(TestPlugin(), "ppo-training-test")
    cfg = config(tmp_path, tiny_policy_dir, reward={"sources": [{"name": "upper-share"}, {"name": "needs-topic", "weight": 0.5}]},
                 data={"train": str(write_prompts(tmp_path / "p.jsonl", topics=("a", "skip")))},
                 ppo={"steps": 2, "batch_size": 4, "ppo_epochs": 1, "mini_batches": 2})
    summary = train_ppo(cfg)
    steps = read_steps(tmp_path / "run" / "steps.jsonl")
    assert [s["step"] for s in steps] == [1, 2]
    rec = steps[0]
    for key in ("reward/total", "objective/kl", "policy/entropy", "policy/clipfrac", "value/clipfrac", "loss/value",
                "tokens_per_s", "time/rollout", "time/scoring", "time/advantages", "time/update"):
        assert rec[key] is not None, key
    assert set(rec["reward/sources"]) == {"upper-share", "needs-topic"}
    assert 0.0 <= rec["reward/sources"]["upper-share"]["share"] <= 1.0
    assert rec["data_position"] == 4
    assert summary["steps"] == 2
    assert (tmp_path / "run" / "final" / "config.json").is_file()
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "state.json").is_file()


def test_unscorable_rows_get_no_learning_signal(tmp_path, tiny_policy_dir, temp_plugin):
    """A batch where every row is NaN leaves the policy untouched (only the critic sees no loss either)."""
    from rlit.training.ppo.trainer import PPOTrainer

    temp_plugin(TestPlugin(), "ppo-training-test")
    cfg = config(tmp_path, tiny_policy_dir, reward={"sources": [{"name": "needs-topic"}]},
                 data={"train": str(write_prompts(tmp_path / "p.jsonl", topics=("skip",)))}, ppo={"max_grad_norm": None})
    trainer = PPOTrainer(cfg)
    before = {k: v.clone() for k, v in trainer.models.policy.state_dict().items()}
    trainer.step = 1
    rec = trainer.train_step()
    assert rec["reward/unscored"] == 4 and rec["reward/total"] is None
    after = trainer.models.policy.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_critic_warmup_trains_only_the_critic_then_both(tmp_path, tiny_policy_dir, temp_plugin):
    """During critic_warmup_steps the policy is frozen and the critic learns; afterwards both move,
    each at its own learning rate."""
    from rlit.training.ppo.trainer import PPOTrainer

    temp_plugin(TestPlugin(), "ppo-training-test")
    cfg = config(tmp_path, tiny_policy_dir, ppo={"steps": 3, "critic_warmup_steps": 1, "critic_learning_rate": 5e-3})
    trainer = PPOTrainer(cfg)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == [1e-3, 5e-3]
    snapshot = lambda m: {k: v.clone() for k, v in m.state_dict().items()}  # noqa: E731
    policy_0, critic_0 = snapshot(trainer.models.policy), snapshot(trainer.models.critic)
    trainer.step = 1
    rec = trainer.train_step()
    assert "loss/policy" not in rec and rec["loss/value"] is not None
    assert all(torch.equal(policy_0[k], v) for k, v in trainer.models.policy.state_dict().items())
    assert any(not torch.equal(critic_0[k], v) for k, v in trainer.models.critic.state_dict().items())
    trainer.step = 2
    rec = trainer.train_step()
    assert rec["loss/policy"] is not None
    assert any(not torch.equal(policy_0[k], v) for k, v in trainer.models.policy.state_dict().items())


@pytest.mark.parametrize("lora", [None, {"r": 4, "alpha": 8, "target_modules": ["c_attn"]}], ids=["full", "lora"])
def test_critic_warmup_with_a_value_head_on_the_policy_trains_only_the_head(tmp_path, tiny_policy_dir, temp_plugin, lora):
    """The head shares the policy's backbone, but during the warm-up the value loss must not move it.
    (A new head's weights start at zero, so the first update sends no gradient into the backbone:
    the warm-up here runs two steps of two minibatches.)"""
    from rlit.training.ppo.trainer import PPOTrainer

    temp_plugin(TestPlugin(), "ppo-training-test")
    model = {"value_head_on_policy": True, **({"lora": lora} if lora else {})}
    cfg = config(tmp_path, tiny_policy_dir, model=model,
                 ppo={"steps": 4, "critic_warmup_steps": 2, "mini_batches": 2, "critic_learning_rate": 5e-3})
    trainer = PPOTrainer(cfg)
    snapshot = lambda m: {k: v.clone() for k, v in m.state_dict().items()}  # noqa: E731
    policy_0, head_0 = snapshot(trainer.models.policy), snapshot(trainer.models.value_head)
    for step in (1, 2):
        trainer.step = step
        rec = trainer.train_step()
        assert "loss/policy" not in rec and rec["loss/value"] is not None
    assert all(torch.equal(policy_0[k], v) for k, v in trainer.models.policy.state_dict().items())
    assert any(not torch.equal(head_0[k], v) for k, v in trainer.models.value_head.state_dict().items())
    trainer.step = 3
    assert trainer.train_step()["objective/kl"] == pytest.approx(0.0, abs=1e-5)  # still the reference's policy
    assert any(not torch.equal(policy_0[k], v) for k, v in trainer.models.policy.state_dict().items())


def test_critic_warmup_must_leave_policy_steps(tmp_path, tiny_policy_dir):
    with pytest.raises(ConfigError, match="critic_warmup_steps"):
        config(tmp_path, tiny_policy_dir, ppo={"steps": 3, "critic_warmup_steps": 3})


def test_samples_per_prompt_groups_responses_and_baseline_centres_each_group(tmp_path, tiny_policy_dir, temp_plugin):
    """4 responses = 2 prompts x 2 samples: the stream advances by 2 prompts, each prompt appears
    twice in a row, and with group_baseline the scores fed to GAE sum to 0 within each group."""
    from rlit.training.ppo import trainer as trainer_mod

    temp_plugin(TestPlugin(), "ppo-training-test")
    cfg = config(tmp_path, tiny_policy_dir, ppo={"samples_per_prompt": 2, "group_baseline": True})
    trainer = trainer_mod.PPOTrainer(cfg)
    seen = {}
    real = trainer_mod.compute_advantages

    def spy(scores, *args, **kw):
        seen["scores"] = scores.clone()
        return real(scores, *args, **kw)

    score = trainer._score
    trainer._score = lambda roll, rows: (seen.setdefault("prompts", list(roll.prompts)), score(roll, rows))[1]
    trainer_mod.compute_advantages = spy
    try:
        trainer.step = 1
        rec = trainer.train_step()
    finally:
        trainer_mod.compute_advantages = real
    assert rec["data_position"] == 2
    p = seen["prompts"]
    assert p[0] == p[1] and p[2] == p[3] and p[0] != p[2]
    assert seen["scores"].view(2, 2).sum(1).abs().max() < 1e-6


@pytest.mark.parametrize("ppo, message", [({"samples_per_prompt": 3}, "samples_per_prompt 3"),
                                          ({"group_baseline": True}, "group_baseline needs")])
def test_grouping_config_errors(tmp_path, tiny_policy_dir, ppo, message):
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, tiny_policy_dir, ppo=ppo)


def test_kl_in_the_loss_pulls_the_policy_back_to_the_reference(tmp_path, tiny_policy_dir, temp_plugin):
    """kl_penalty = "loss": with zero advantages, updates on the k3 KL alone bring a perturbed
    policy back towards the frozen reference; the rewards carry no KL term."""
    from rlit.training.ppo.advantages import kl_per_token, masked_mean
    from rlit.training.ppo.rollout import token_logprobs
    from rlit.training.ppo.trainer import PPOTrainer
    from rlit.training.ppo.update import UpdateBatch, ppo_update

    temp_plugin(TestPlugin(), "ppo-training-test")
    cfg = config(tmp_path, tiny_policy_dir, ppo={"kl_penalty": "loss", "kl_coef": 1.0, "learning_rate": 1e-3, "max_grad_norm": None})
    trainer = PPOTrainer(cfg)
    trainer.step = 1
    rec = trainer.train_step()
    assert rec["loss/kl"] >= 0 and rec["objective/non_score_reward"] == 0
    with torch.no_grad():
        for param in trainer.models.policy.parameters():
            param.add_(0.05 * torch.randn(param.shape, generator=torch.Generator().manual_seed(1)))
    roll = trainer._rollout(trainer.stream.next_batch(4))
    ref_logp, values = trainer._old_values_and_ref(roll)
    mask, r = roll.response_mask, roll.response_ids.shape[1]

    def kl_now():
        with torch.no_grad():
            logp, _, _ = token_logprobs(trainer.models.policy, roll.input_ids, roll.attention_mask, r, 1.0)
        return float(masked_mean(kl_per_token(logp, ref_logp, "k3"), mask))

    before = kl_now()
    batch = UpdateBatch(roll.input_ids, roll.attention_mask, mask, roll.logprobs, values, torch.zeros_like(values), values, ref_logp)
    twenty_epochs = config(tmp_path, tiny_policy_dir, ppo={"ppo_epochs": 20, "learning_rate": 1e-3, "max_grad_norm": None})
    ppo_update(batch, trainer.learner, twenty_epochs, generator=torch.Generator().manual_seed(0), kl_loss_coef=1.0)
    assert before > 0.01 and kl_now() < 0.5 * before


def write_demos(path, n=6):
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"Say something about thing {i}.", "completion": f"THING {i} IS GREAT."}) + "\n")
    return path


def test_ptx_batch_is_the_rollout_prompt_then_the_demonstration_and_its_loss_the_demonstration_nll(tiny_policy_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlit.training.ppo.ptx import encode_ptx_batch, ptx_loss
    from rlit.training.ppo.rollout import encode_prompts

    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_policy_dir).eval()
    prompts, demos = ["Hi.", "Tell me a much longer story, please."], ["Hello there.", "Once."]
    batch = encode_ptx_batch(tok, prompts, demos, chat_template="auto", max_prompt_tokens=64, max_completion_tokens=64,
                             device=torch.device("cpu"))
    q_ids, q_mask = encode_prompts(tok, prompts, False, 64, torch.device("cpu"))
    width = q_ids.shape[1]
    assert torch.equal(batch.input_ids[:, :width], q_ids) and torch.equal(batch.attention_mask[:, :width], q_mask)
    nll, count = 0.0, 0
    for p, d in zip(prompts, demos):  # each row alone, unpadded: the NLL of the demonstration + EOS
        p_ids, d_ids = tok(p)["input_ids"], tok(d, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        assert int(batch.completion_mask[prompts.index(p)].sum()) == len(d_ids)
        with torch.no_grad():
            logits = model(torch.tensor([p_ids + d_ids])).logits[0, len(p_ids) - 1 : -1]
        nll += float(torch.nn.functional.cross_entropy(logits, torch.tensor(d_ids), reduction="sum"))
        count += len(d_ids)
    with torch.no_grad():
        assert float(ptx_loss(model, batch)) == pytest.approx(nll / count, rel=1e-4)
    cut = encode_ptx_batch(tok, prompts, demos, chat_template="auto", max_prompt_tokens=64, max_completion_tokens=2,
                           device=torch.device("cpu"))
    assert cut.completion_mask.sum(1).tolist() == [2, 2]


def test_ptx_term_pulls_the_policy_towards_the_demonstrations(tmp_path, tiny_policy_dir, temp_plugin):
    """ptx_coef > 0: every policy update also lowers the demonstrations' NLL (zero advantages here,
    so the PPO-ptx term is the only policy signal); the step log carries loss/ptx."""
    from rlit.training.ppo.ptx import encode_ptx_batch, ptx_loss
    from rlit.training.ppo.trainer import PPOTrainer
    from rlit.training.ppo.update import UpdateBatch, ppo_update

    temp_plugin(TestPlugin(), "ppo-training-test")
    cfg = config(tmp_path, tiny_policy_dir, data={"sft": str(write_demos(tmp_path / "demos.jsonl"))},
                 ppo={"ptx_coef": 1.0, "ptx_batch_size": 3, "learning_rate": 1e-3})
    trainer = PPOTrainer(cfg)
    demos = trainer.ptx.stream.rows
    probe = encode_ptx_batch(trainer.models.tokenizer, [r["prompt"] for r in demos], [r["completion"] for r in demos],
                             chat_template="auto", max_prompt_tokens=64, max_completion_tokens=64, device=torch.device("cpu"))
    with torch.no_grad():
        before = float(ptx_loss(trainer.models.policy, probe))
    roll = trainer._rollout(trainer.stream.next_batch(4))
    ref_logp, values = trainer._old_values_and_ref(roll)
    batch = UpdateBatch(roll.input_ids, roll.attention_mask, roll.response_mask, roll.logprobs, values,
                        torch.zeros_like(values), values, ref_logp)

    def update_and_probe(coef: float) -> float:
        run = config(tmp_path, tiny_policy_dir, data={"sft": str(tmp_path / "demos.jsonl")},
                     ppo={"ppo_epochs": 20, "max_grad_norm": None, "ptx_coef": coef, "learning_rate": 1e-3})
        ppo_update(batch, trainer.learner, run, generator=torch.Generator().manual_seed(0), ptx_batches=lambda: trainer.ptx.next_batch(3))
        with torch.no_grad():
            return float(ptx_loss(trainer.models.policy, probe))

    assert update_and_probe(0.0) == pytest.approx(before, abs=1e-6)  # zero advantages alone: the policy stays
    assert update_and_probe(1.0) < 0.85 * before
    position = trainer.ptx.stream.position
    trainer.step = 1
    rec = trainer.train_step()
    assert rec["loss/ptx"] > 0 and trainer.ptx.stream.position == position + 3  # one minibatch: one demonstration batch


def test_ptx_needs_demonstrations(tmp_path, tiny_policy_dir):
    with pytest.raises(ConfigError, match=r"test.toml: \[ppo\] ptx_coef > 0 needs \[data\] sft"):
        config(tmp_path, tiny_policy_dir, ppo={"ptx_coef": 0.5})
    with pytest.raises(ConfigError, match=r"\[ppo\] ptx_coef: Input should be greater than or equal to 0 \(got -1.0\)"):
        config(tmp_path, tiny_policy_dir, ppo={"ptx_coef": -1.0})


def test_lora_policy_uses_the_adapter_free_base_as_reference(tmp_path, tiny_policy_dir, temp_plugin):
    from rlit.training.ppo.trainer import PPOTrainer

    temp_plugin(TestPlugin(), "ppo-training-test")
    cfg = config(tmp_path, tiny_policy_dir, model={"lora": {"r": 4, "alpha": 8, "target_modules": ["c_attn"]}, "value_head_on_policy": True})
    trainer = PPOTrainer(cfg)
    assert trainer.models.reference is None and trainer.models.critic is None
    trainable = [n for n, p in trainer.models.policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    trainer.step = 1
    rec = trainer.train_step()
    assert rec["objective/kl"] == pytest.approx(0.0, abs=1e-5)  # first step: the adapters start as a no-op
    trainer.step = 2
    assert trainer.train_step()["objective/kl"] != 0.0


def test_hacking_watch_flags_reward_up_while_validation_falls_and_dominant_sources():
    from rlit.training.ppo.config import WatchConfig
    from rlit.training.ppo.watch import HackingWatch

    watch = HackingWatch(WatchConfig(max_source_share=0.8, window=2))
    assert watch.on_step(1, 0.1, {"rule": 0.5, "quality": 0.5}) == []
    watch.on_step(2, 0.1, {"rule": 0.5, "quality": 0.5})
    assert watch.on_eval(2, "ifeval", 0.40) == []  # the first evaluation is the baseline
    watch.on_step(3, 0.5, {"rule": 0.9, "quality": 0.1})
    shares = watch.on_step(4, 0.7, {"rule": 0.9, "quality": 0.1})
    assert len(shares) == 1 and "'rule' is 90%" in shares[0]
    assert watch.on_eval(4, "ifeval", 0.45) == []  # reward up, metric up: fine
    (warning,) = watch.on_eval(4, "ifeval", 0.30)  # reward up, metric down
    assert "rose 0.100 -> 0.600" in warning and "fell 0.400 -> 0.300" in warning
    assert watch.on_eval(4, "ifeval", 0.35, higher_is_better=False) == []  # lower is better: 0.35 improved
    summary = watch.summary()
    assert summary["n_warnings"] == 3 and {w["kind"] for w in summary["warnings"]} == {"source-share", "reward-vs-validation"}
    restored = HackingWatch(WatchConfig())
    restored.load_state_dict(watch.state_dict())
    assert restored.summary() == summary


def upper_share_suite(tmp_path):
    """A one-eval suite: mean upper-case share of the policy's greedy answers to 4 prompts."""
    write_prompts(tmp_path / "val.jsonl", n=4)
    suite = tmp_path / "val.toml"
    suite.write_text(textwrap.dedent("""
        name = "val"
        [generation]
        max_new_tokens = 4
        [[evals]]
        name = "upper"
        prompts = "val.jsonl"
        metric = { source = "upper-share" }
        aggregate = { method = "mean" }
    """))
    return suite


def test_periodic_evaluation_runs_the_eval_suite_on_the_policy(tmp_path, tiny_policy_dir, temp_plugin):
    from rlit.training.ppo.steplog import read_steps
    from rlit.training.ppo.trainer import train_ppo

    temp_plugin(TestPlugin(), "ppo-training-test")
    suite = upper_share_suite(tmp_path)
    cfg = config(tmp_path, tiny_policy_dir, eval={"suite": str(suite)}, output={"dir": str(tmp_path / "run"), "eval_every": 1, "save_every": 0})
    summary = train_ppo(cfg)
    assert [e["step"] for e in summary["evals"]] == [0, 1, 2]
    assert all(isinstance(e["values"]["upper"], float) for e in summary["evals"])
    assert [s["eval"]["values"]["upper"] for s in read_steps(tmp_path / "run" / "steps.jsonl")] == [e["values"]["upper"] for e in summary["evals"][1:]]


def test_keep_best_makes_final_the_best_evaluated_policy(tmp_path, tiny_policy_dir, temp_plugin):
    """final/ must score, re-evaluated from disk, exactly what the best periodic evaluation scored."""
    from rlit.evaluation import evaluate
    from rlit.training.ppo.trainer import train_ppo

    temp_plugin(TestPlugin(), "ppo-training-test")
    suite = upper_share_suite(tmp_path)
    cfg = config(tmp_path, tiny_policy_dir, eval={"suite": str(suite)}, ppo={"steps": 4, "learning_rate": 3e-2},
                 output={"dir": str(tmp_path / "run"), "eval_every": 1, "save_every": 0, "keep_best": True})
    summary = train_ppo(cfg)
    values = {e["step"]: e["values"]["upper"] for e in summary["evals"] if math.isfinite(e["values"]["upper"])}
    assert len(set(values.values())) > 1, "the evaluations should differ for this test to mean anything"
    best = max(values.values())
    assert summary["best"] == {"step": min(k for k, v in values.items() if v == best), "metric": "upper", "value": best}
    again = evaluate(str(suite), model=str(tmp_path / "run" / "final"), cache_dir=None, progress=False)
    assert again.values["upper"] == pytest.approx(best)


def test_keep_best_needs_periodic_evaluation(tmp_path, tiny_policy_dir):
    with pytest.raises(ConfigError, match="keep_best needs"):
        config(tmp_path, tiny_policy_dir, output={"keep_best": True, "eval_every": 5})


@pytest.mark.slow
def test_reward_rises_on_a_simple_rule(tmp_path, tiny_policy_dir, temp_plugin):
    """Reward = number of '.' per completion / 8 on the peaked tiny GPT-2; rises within ~10 steps."""
    from rlit.training.ppo.trainer import train_ppo

    temp_plugin(TestPlugin(), "ppo-training-test")
    policy = peaked_policy(tiny_policy_dir, tmp_path / "peaked")
    prompts = write_prompts(tmp_path / "two.jsonl", n=2)  # a tiny random model barely generalises across prompts
    cfg = config(tmp_path, policy, data={"train": str(prompts)}, reward={"sources": [{"name": "dot-count"}]},
                 generation={"max_new_tokens": 8, "temperature": 1.0},
                 ppo={"steps": 30, "batch_size": 8, "ppo_epochs": 4, "learning_rate": 5e-4, "kl_coef": 0.01, "lr_schedule": "constant"},
                 watch={"window": 5})
    summary = train_ppo(cfg)
    print("dot-count reward, mean of first 5 -> last 5 steps:", summary["reward_first"], summary["reward_last"])
    assert summary["reward_last"] > summary["reward_first"] + 0.2
