"""The PPO update: ``ppo_epochs`` passes over a rollout batch in shuffled minibatches, one
optimiser step per minibatch, loss = policy loss + vf_coef * value loss (+ the KL and PPO-ptx
terms when configured), gradients clipped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from rlit.training.ppo.advantages import kl_per_token, masked_mean
from rlit.training.ppo.losses import policy_loss, value_loss
from rlit.training.ppo.ptx import PtxBatch, ptx_loss
from rlit.training.ppo.rollout import token_logprobs


@dataclass
class UpdateBatch:
    """The tensors one update needs, all [B, ...] on the training device."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor  # [B, R] 0/1: tokens that get a learning signal
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    ref_logprobs: torch.Tensor

    def select(self, idx: torch.Tensor) -> "UpdateBatch":
        return UpdateBatch(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def ppo_update(
    batch: UpdateBatch, *, policy: Any, critic: Any, value_head: Any, optimizer: Any, accelerator: Any,
    params: list[torch.nn.Parameter], ppo_epochs: int, mini_batches: int, cliprange: float,
    cliprange_value: float, vf_coef: float, temperature: float, max_grad_norm: float | None,
    generator: torch.Generator, train_policy: bool = True, kl_loss_coef: float = 0.0,
    ptx_coef: float = 0.0, ptx_batches: Callable[[], PtxBatch] | None = None,
) -> dict[str, float]:
    """Run the epochs; returns the mean of each diagnostic over all minibatch steps.

    ``kl_loss_coef > 0`` adds that times the mean k3 KL to the reference over the response tokens
    to the policy loss (the ``kl_penalty = "loss"`` form). ``ptx_coef > 0`` adds that times the
    demonstrations' negative log-likelihood, on a fresh ``ptx_batches()`` batch per minibatch (PPO-ptx).

    ``train_policy=False`` (critic warm-up) drops the policy loss and the policy's parameters get no
    gradient at all: with a separate critic the policy forward is skipped, with a value head on the
    policy it runs without gradient and only the head learns.
    """
    size = batch.input_ids.shape[0]
    mb = size // mini_batches
    response_len = batch.response_mask.shape[1]
    sums: dict[str, float] = {}
    entropies: list[float] = []
    count = 0
    for epoch in range(ppo_epochs):
        order = torch.randperm(size, generator=generator).to(batch.input_ids.device)
        for start in range(0, size, mb):
            part = batch.select(order[start : start + mb])
            mask = part.response_mask
            if train_policy or critic is None:
                # the rollout policy's entropy, once: later epochs would only repeat a full-vocabulary pass
                new_logp, ent, shared_values = token_logprobs(policy, part.input_ids, part.attention_mask, response_len,
                                                              temperature, value_head, with_entropy=epoch == 0 and train_policy,
                                                              values_only=not train_policy)
            else:
                new_logp, ent, shared_values = None, None, None
            new_values = shared_values if shared_values is not None else critic(part.input_ids, part.attention_mask, response_len)
            vf_loss, vf_clipfrac = value_loss(new_values, part.values, part.returns, mask, cliprange_value)
            stats = {"loss/value": vf_loss, "value/clipfrac": vf_clipfrac}
            loss = vf_coef * vf_loss
            if train_policy:
                pg_loss, pg_clipfrac, approx_kl = policy_loss(new_logp, part.logprobs, part.advantages, mask, cliprange)
                stats.update({"loss/policy": pg_loss, "policy/clipfrac": pg_clipfrac, "policy/approx_kl": approx_kl})
                loss = loss + pg_loss
                if kl_loss_coef > 0:
                    kl = masked_mean(kl_per_token(new_logp, part.ref_logprobs, "k3"), mask)
                    stats["loss/kl"] = kl
                    loss = loss + kl_loss_coef * kl
                if ptx_coef > 0 and ptx_batches is not None:
                    ptx = ptx_loss(policy, ptx_batches())
                    stats["loss/ptx"] = ptx
                    loss = loss + ptx_coef * ptx
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            grad_norm = accelerator.clip_grad_norm_(params, max_grad_norm) if max_grad_norm else None
            optimizer.step()
            if ent is not None:
                entropies.append(float(masked_mean(ent, mask)))
            if grad_norm is not None:
                stats["grad_norm"] = grad_norm
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach() if isinstance(value, torch.Tensor) else value)
            count += 1
    entropy = sum(entropies) / len(entropies) if entropies else float("nan")
    return {**{k: v / count for k, v in sums.items()}, "policy/entropy": entropy}
