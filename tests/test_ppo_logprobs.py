"""The fused LM-head log-probs and the inverse-CDF sampler against plain torch references."""

from __future__ import annotations

import pytest
import torch

from rlit.training.ppo.logprobs import CHUNK_ROWS, chosen_logprobs, split_lm_head
from rlit.training.ppo.losses import token_entropy


def reference(hidden, head, targets, temperature):
    logits = head(hidden) / temperature
    logp = -torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    return logp, token_entropy(logits.detach())


@pytest.mark.parametrize("bias", [False, True])
def test_fused_logprobs_entropy_and_gradients_match_cross_entropy(bias):
    torch.manual_seed(0)
    rows = 2 * CHUNK_ROWS + 5  # several chunks and a ragged last one
    head = torch.nn.Linear(8, 300, bias=bias)
    hidden = torch.randn(rows, 8, requires_grad=True)
    targets = torch.randint(0, 300, (rows,))
    weights = torch.randn(rows)
    grads = []
    for fn in (lambda: chosen_logprobs(hidden, head, targets, 0.7, with_entropy=True), lambda: reference(hidden, head, targets, 0.7)):
        hidden.grad = None
        head.zero_grad()
        logp, ent = fn()
        (logp * weights).sum().backward()
        grads.append((logp.detach(), ent, hidden.grad.clone(), head.weight.grad.clone(), head.bias.grad.clone() if bias else None))
    (lp, ent, gh, gw, gb), (lp0, ent0, gh0, gw0, gb0) = grads
    assert torch.allclose(lp, lp0, atol=1e-5) and torch.allclose(ent, ent0, atol=1e-5)
    assert torch.allclose(gh, gh0, atol=1e-5) and torch.allclose(gw, gw0, atol=1e-5)
    if bias:
        assert torch.allclose(gb, gb0, atol=1e-5)
    assert not ent.requires_grad


def test_fused_logprobs_refuse_a_second_backward():
    head = torch.nn.Linear(4, 10)
    logp, _ = chosen_logprobs(torch.randn(3, 4, requires_grad=True), head, torch.tensor([1, 2, 3]), 1.0)
    logp.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward ran twice"):
        logp.sum().backward()


def test_a_second_forward_before_backward_gets_its_own_buffer():
    torch.manual_seed(1)
    head = torch.nn.Linear(4, 50)
    hidden, targets = torch.randn(6, 4, requires_grad=True), torch.randint(0, 50, (6,))
    first, _ = chosen_logprobs(hidden, head, targets, 1.0)
    second, _ = chosen_logprobs(hidden * 2, head, targets, 1.0)  # would overwrite a shared buffer
    first.sum().backward()
    got = hidden.grad.clone()
    hidden.grad = None
    reference(hidden, head, targets, 1.0)[0].sum().backward()
    assert torch.allclose(got, hidden.grad, atol=1e-5)
    second.sum().backward()


def test_token_logprobs_fast_path_matches_the_models_own_forward(tiny_policy_dir):
    from rlit.lm.loading import load_causal_lm
    from rlit.training.ppo.rollout import token_logprobs

    model, _ = load_causal_lm(str(tiny_policy_dir))
    assert split_lm_head(model) is not None
    ids = torch.randint(0, model.config.vocab_size, (3, 9))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # a left-padded prompt
    logp, ent, _ = token_logprobs(model, ids, mask, 4, 0.7, with_entropy=True)
    (logp.sum()).backward()
    grad = model.transformer.wte.weight.grad.clone()
    model.zero_grad()

    class Wrapped(torch.nn.Module):  # not splittable: takes the model's own forward
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, **kw):
            return self.m(**kw)

    assert split_lm_head(Wrapped(model)) is None
    logp0, ent0, _ = token_logprobs(Wrapped(model), ids, mask, 4, 0.7, with_entropy=True)
    logp0.sum().backward()
    assert torch.allclose(logp, logp0, atol=1e-5) and torch.allclose(ent, ent0, atol=1e-5)
    assert torch.allclose(grad, model.transformer.wte.weight.grad, atol=1e-5)


def test_sampler_draws_from_the_distribution_and_never_a_zero_or_cut_token():
    from rlit.training.ppo.rollout import _sample

    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20000, 1)
    uniforms = torch.rand((len(probs), 1), generator=torch.Generator().manual_seed(0))
    draws = _sample(probs.clone(), 1.0, uniforms)
    freq = torch.bincount(draws, minlength=5).float() / len(draws)
    assert torch.allclose(freq, probs[0], atol=0.015)
    assert freq[1] == 0 and freq[4] == 0
    top = _sample(probs.clone() * 3.0, 0.75, uniforms)  # keeps 0.5 and 0.3 only
    freq = torch.bincount(top, minlength=5).float() / len(top)
    assert freq[3] == 0 and torch.allclose(freq[[0, 2]], torch.tensor([0.625, 0.375]), atol=0.015)


def test_a_lora_policy_takes_the_fused_path_with_its_adapters_on(tiny_policy_dir):
    from peft import LoraConfig, get_peft_model

    from rlit.lm.loading import load_causal_lm
    from rlit.training.ppo.rollout import token_logprobs

    model, _ = load_causal_lm(str(tiny_policy_dir))
    lora = get_peft_model(model, LoraConfig(r=4, target_modules=["c_attn"], init_lora_weights=False))
    assert split_lm_head(lora) is not None
    ids = torch.randint(0, model.config.vocab_size, (2, 7))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        fused, _, _ = token_logprobs(lora, ids, mask, 3, 1.0)
        own = torch.log_softmax(lora(input_ids=ids, attention_mask=mask).logits[:, -4:-1], -1).gather(-1, ids[:, -3:, None]).squeeze(-1)
        with lora.disable_adapter():
            base, _, _ = token_logprobs(lora, ids, mask, 3, 1.0)
    assert torch.allclose(fused, own, atol=1e-5)
    assert not torch.allclose(fused, base, atol=1e-3)  # the adapters were on
