"""The optimised PPO step computes what the straightforward one does, to a stated tolerance.

The optimisations (benchmarks/results/ppo_step.txt): backbone passes over packed rows without
padding (``packing.response_states``), one prefill per distinct prompt, finished rows leaving the
decode batch, the value head read
off the rollout's own hidden states instead of a second forward pass. Each is compared here with
the plain computation: a padded forward with an attention mask, a decode loop with no cache that
keeps every row, and a values-only forward. Tolerances (float32 rounding of differently shaped
matmuls, and Adam's normalised steps; the bounds are 4-100x what was measured):

- log-probs, entropies, values and their gradients: 1e-5 absolute;
- sampled tokens: identical (the same uniforms are drawn for every row in the same order);
- two whole quick-start-like training steps (value head on the policy, 2 samples per prompt,
  group baseline, 2 minibatches, PPO-ptx, learning rate 1e-3): every logged loss within 1e-4, every
  weight within 1e-5 (measured: losses equal to the 6 logged digits, weights within 2.4e-6).
"""

from __future__ import annotations

import json

import pytest
import torch

import rlit
from rlit.training.ppo import packing
from rlit.training.ppo.rollout import positions, sample_responses, token_logprobs
from rlit.training.ppo.value import SharedValueHead

LOGP_TOL, WEIGHT_TOL, LOSS_TOL = 1e-5, 1e-5, 1e-4


def padded_states(backbone, input_ids, attention_mask, response_len, group_rows=0):
    """The straightforward states: one forward over the padded batch with its attention mask."""
    out = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask), use_cache=False)
    return out.last_hidden_state[:, -response_len - 1 : -1]


@pytest.fixture(scope="module")
def small_lm():
    """A random GPT-2 with a 50-token vocabulary: token 0 (EOS here) comes up often enough that
    rows end at different lengths."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=50, n_layer=2, n_embd=32, n_head=2, n_positions=128, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


def ragged_batch(seed=0, rows=7, prompt=9, response=12):
    """Left-padded prompts and right-padded responses of different lengths."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (rows, prompt + response), generator=g)
    mask = torch.zeros_like(ids)
    for i in range(rows):
        p, r = 1 + (3 * i) % prompt, 1 + (5 * i) % max(response, 1)
        mask[i, prompt - p : prompt + min(r, response)] = 1
    return ids, mask, response


def plain_sample(model, ids, mask, steps, temperature, eos, pad, generator):
    """No cache, every row in every forward, log_softmax, the same one uniform per row and step."""
    alive = torch.ones(ids.shape[0], dtype=torch.bool)
    toks, logps, masks = [], [], []
    seq, attn = ids, mask
    with torch.no_grad():
        for _ in range(steps):
            logits = model(input_ids=seq, attention_mask=attn, position_ids=positions(attn)).logits[:, -1].float()
            logp_all = torch.log_softmax(logits / temperature, -1)
            cdf = logp_all.exp().cumsum(-1)
            u = torch.rand((ids.shape[0], 1), generator=generator) * cdf[:, -1:]
            tok = torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=cdf.shape[1] - 1)
            toks.append(torch.where(alive, tok, torch.full_like(tok, pad)))
            logps.append(torch.where(alive, logp_all.gather(-1, tok[:, None]).squeeze(-1), torch.zeros(())))
            masks.append(alive.clone())
            alive &= tok != eos
            if not alive.any():
                break
            seq, attn = torch.cat([seq, toks[-1][:, None]], 1), torch.cat([attn, torch.ones_like(attn[:, :1])], 1)
    return torch.stack(toks, 1), torch.stack(masks, 1), torch.stack(logps, 1)


def test_sampling_drops_finished_rows_and_draws_what_a_plain_loop_draws(small_lm):
    ids, mask, _ = ragged_batch(rows=12, response=0)
    ids, mask = ids.repeat_interleave(2, 0), mask.repeat_interleave(2, 0)  # 2 samples per prompt: one prefill each
    head = SharedValueHead(32)
    torch.nn.init.normal_(head.head.weight)
    out = sample_responses(small_lm, ids, mask, max_new_tokens=40, temperature=0.9, top_p=1.0, eos_token_id=0,
                           pad_token_id=0, generator=torch.Generator().manual_seed(3), keep_states=True)
    toks, alive, logp = plain_sample(small_lm, ids, mask, 40, 0.9, 0, 0, torch.Generator().manual_seed(3))
    lengths = out.response_mask.sum(1)
    assert lengths.min() < 8 and lengths.max() == 40  # rows finished at different steps and left the batch
    assert torch.equal(out.response_ids, toks) and torch.equal(out.response_mask, alive)
    assert torch.allclose(out.logprobs, logp, atol=LOGP_TOL)
    # the values read off the sampling's states equal a forward pass's over the finished rollout
    full_ids, full_mask = torch.cat([ids, toks], 1), torch.cat([mask, alive.long()], 1)
    with torch.no_grad():
        want = head.values(padded_states(small_lm.transformer, full_ids, full_mask, toks.shape[1]))
        got = head.values(out.states)
    assert torch.allclose(got[alive], want[alive], atol=LOGP_TOL)


def test_packed_logprobs_values_and_gradients_match_the_padded_forward(small_lm, monkeypatch):
    model = small_lm  # eval mode: no dropout (the trainer disables it too)
    head = SharedValueHead(32)
    torch.nn.init.normal_(head.head.weight)
    ids, mask, r = ragged_batch()
    resp_mask = mask[:, -r:].bool()
    weights = torch.randn(resp_mask.shape, generator=torch.Generator().manual_seed(1))
    results = []
    for states_fn in (packing.response_states, padded_states):
        monkeypatch.setattr("rlit.training.ppo.rollout.response_states", states_fn)
        model.zero_grad()
        head.zero_grad()
        logp, ent, values = token_logprobs(model, ids, mask, r, 0.7, head, with_entropy=True)
        ((logp * weights + values) * resp_mask).sum().backward()
        grads = [p.grad.clone() for p in [*model.parameters(), *head.parameters()]]
        results.append((logp[resp_mask], ent[resp_mask], values[resp_mask].detach(), grads))
    (lp, en, va, gr), (lp0, en0, va0, gr0) = results
    assert torch.allclose(lp, lp0, atol=LOGP_TOL) and torch.allclose(en, en0, atol=LOGP_TOL)
    assert torch.allclose(va, va0, atol=LOGP_TOL)
    assert all(torch.allclose(a, b, atol=LOGP_TOL) for a, b in zip(gr, gr0))


class Letters(rlit.RewardSource):
    name = "equivalence-letters"

    def score(self, prompts, completions, **columns):
        return [sum(ch.isalpha() for ch in c) / max(len(c), 1) for c in completions]


class Plugin:
    @rlit.hookimpl
    def register_rewards(self, register):
        register(Letters)


def quickstart_like(tmp_path, policy):
    from rlit.training.ppo.config import ppo_config_from_dict

    tmp_path.mkdir()
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"prompt": "word " * (1 + i % 7)}) + "\n" for i in range(16)))
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"prompt": f"q {i}", "completion": "a b " * (1 + i)}) + "\n" for i in range(8)))
    return ppo_config_from_dict({
        "model": {"policy": str(policy), "device": "cpu", "value_head_on_policy": True},
        "data": {"train": str(tmp_path / "p.jsonl"), "sft": str(tmp_path / "d.jsonl")},
        "generation": {"max_new_tokens": 6, "temperature": 1.0},
        "ppo": {"steps": 2, "batch_size": 8, "samples_per_prompt": 2, "group_baseline": True, "mini_batches": 2,
                "ppo_epochs": 1, "learning_rate": 1e-3, "ptx_coef": 0.1, "ptx_batch_size": 3},
        "output": {"dir": str(tmp_path / "run"), "save_every": 0, "log_samples": 0},
        "reward": {"sources": [{"name": "equivalence-letters"}]},
    }, "test.toml")


def two_steps(cfg):
    from rlit.training.ppo.trainer import PPOTrainer

    trainer = PPOTrainer(cfg)
    records = []
    for _ in range(2):
        trainer.step += 1
        records.append(trainer.train_step())
    return records, [p.detach().clone() for p in trainer.params]


def test_two_training_steps_match_the_straightforward_step(tmp_path, tiny_policy_dir, temp_plugin, monkeypatch):
    from rlit.training.ppo import trainer as trainer_mod

    temp_plugin(Plugin(), "ppo-equivalence")
    fast, fast_weights = two_steps(quickstart_like(tmp_path / "a", tiny_policy_dir))
    real_rollout = trainer_mod.generate_rollout
    # straightforward: padded forwards, and the values from a values-only forward after the rollout
    monkeypatch.setattr("rlit.training.ppo.rollout.response_states", padded_states)
    monkeypatch.setattr(trainer_mod, "generate_rollout", lambda *a, value_head=None, **k: real_rollout(*a, **k))
    plain, plain_weights = two_steps(quickstart_like(tmp_path / "b", tiny_policy_dir))
    for f, p in zip(fast, plain):
        for key in ("reward/total", "loss/policy", "loss/value", "loss/ptx", "objective/kl", "policy/entropy"):
            assert f[key] == pytest.approx(p[key], abs=LOSS_TOL), key
    assert max(float((a - b).abs().max()) for a, b in zip(fast_weights, plain_weights)) < WEIGHT_TOL
