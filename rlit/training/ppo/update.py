"""The PPO update: ``ppo_epochs`` passes over a rollout batch in shuffled minibatches, one
optimiser step per minibatch, loss = policy loss + vf_coef * value loss (+ the KL and PPO-ptx
terms when configured), gradients clipped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from rlit.training.ppo.advantages import kl_per_token, masked_mean
from rlit.training.ppo.config import PPORunConfig
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


@dataclass
class Learner:
    """What an update trains: the policy, its critic (a separate model) or value head, and the optimiser.

    ``params`` are the parameters whose gradient norm is clipped; ``accelerator`` runs the backward.
    """

    policy: Any
    critic: Any
    value_head: Any
    optimizer: Any
    accelerator: Any
    params: list[torch.nn.Parameter]


def ppo_update(
    batch: UpdateBatch, learner: Learner, cfg: PPORunConfig, *, generator: torch.Generator, train_policy: bool = True,
    kl_loss_coef: float = 0.0, ptx_batches: Callable[[], PtxBatch] | None = None,
) -> dict[str, float]:
    """Run ``cfg.ppo.ppo_epochs`` epochs; returns the mean of each diagnostic over all minibatch steps.

    The clip ranges, value-loss weight, minibatches, gradient clipping and PPO-ptx weight come from
    ``cfg.ppo``, the temperature of the log-probs from ``cfg.generation``. ``kl_loss_coef > 0``
    adds that times the mean k3 KL to the reference over the response tokens to the policy loss
    (the ``kl_penalty = "loss"`` form; the coefficient changes during a run, so it is passed).
    With ``cfg.ppo.ptx_coef > 0``, that times the demonstrations' negative log-likelihood on a
    fresh ``ptx_batches()`` batch joins every minibatch's loss (PPO-ptx).

    ``train_policy=False`` (critic warm-up) drops the policy loss and the policy's parameters get no
    gradient at all: with a separate critic the policy forward is skipped, with a value head on the
    policy it runs without gradient and only the head learns.
    """
    p = cfg.ppo
    size = batch.input_ids.shape[0]
    mb = size // p.mini_batches
    sums: dict[str, Any] = {}
    entropies: list[torch.Tensor] = []
    count = 0
    for epoch in range(p.ppo_epochs):
        order = torch.randperm(size, generator=generator).to(batch.input_ids.device)
        for start in range(0, size, mb):
            part = batch.select(order[start : start + mb])
            # the rollout policy's entropy, once: later epochs would only repeat a full-vocabulary pass
            loss, stats, ent = _minibatch_loss(part, learner, cfg, train_policy, kl_loss_coef, ptx_batches, epoch == 0)
            learner.optimizer.zero_grad(set_to_none=True)
            learner.accelerator.backward(loss)
            if p.max_grad_norm:
                stats["grad_norm"] = learner.accelerator.clip_grad_norm_(learner.params, p.max_grad_norm)
            learner.optimizer.step()
            if ent is not None:
                entropies.append(masked_mean(ent, part.response_mask).double())
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + (value.detach().double() if isinstance(value, torch.Tensor) else value)
            count += 1
    # one conversion to Python floats at the end, not a device sync per value and minibatch
    entropy = float(torch.stack(entropies).mean()) if entropies else float("nan")
    return {**{k: float(v) / count for k, v in sums.items()}, "policy/entropy": entropy}


def _minibatch_loss(part: UpdateBatch, learner: Learner, cfg: PPORunConfig, train_policy: bool, kl_loss_coef: float,
                    ptx_batches: Callable[[], PtxBatch] | None, with_entropy: bool) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None]:
    """(loss, diagnostics, per-token entropy or None) of one minibatch."""
    p, mask = cfg.ppo, part.response_mask
    if train_policy or learner.critic is None:
        new_logp, ent, shared_values = token_logprobs(learner.policy, part.input_ids, part.attention_mask, mask.shape[1],
                                                      cfg.generation.temperature, learner.value_head,
                                                      with_entropy=with_entropy and train_policy, values_only=not train_policy)
    else:
        new_logp, ent, shared_values = None, None, None
    new_values = shared_values if shared_values is not None else learner.critic(part.input_ids, part.attention_mask, mask.shape[1])
    vf_loss, vf_clipfrac = value_loss(new_values, part.values, part.returns, mask, p.cliprange_value)
    stats: dict[str, Any] = {"loss/value": vf_loss, "value/clipfrac": vf_clipfrac}
    loss = p.vf_coef * vf_loss
    if not train_policy:
        return loss, stats, ent
    pg_loss, pg_clipfrac, approx_kl = policy_loss(new_logp, part.logprobs, part.advantages, mask, p.cliprange)
    stats.update({"loss/policy": pg_loss, "policy/clipfrac": pg_clipfrac, "policy/approx_kl": approx_kl})
    loss = loss + pg_loss
    if kl_loss_coef > 0:
        kl = masked_mean(kl_per_token(new_logp, part.ref_logprobs, "k3"), mask)
        stats["loss/kl"] = kl
        loss = loss + kl_loss_coef * kl
    if p.ptx_coef > 0 and ptx_batches is not None:
        ptx = ptx_loss(learner.policy, ptx_batches())
        stats["loss/ptx"] = ptx
        loss = loss + p.ptx_coef * ptx
    return loss, stats, ent
