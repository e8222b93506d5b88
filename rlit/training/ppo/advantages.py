"""Per-token rewards, GAE advantages and returns, whitening, and the adaptive KL coefficient.

All tensors are [B, R] over response positions with a 0/1 ``mask`` of real response tokens (up to
and including EOS). Masked positions carry no reward, no value and no advantage.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rlit.training.ppo.config import PPOConfig


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased (Bessel-corrected) variance over masked entries, as TRL computes it."""
    mask = mask.to(values.dtype)
    n = mask.sum()
    centred = (values - masked_mean(values, mask)) * mask
    return (centred**2).sum() / (n - 1).clamp(min=1.0)


def whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """(x - mean) / sqrt(var + 1e-8) over the masked entries; ``shift_mean=False`` keeps the mean."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    out = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask.to(values.dtype)


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-token KL(policy || reference) estimate from sampled tokens (Schulman's k1 or k3)."""
    log_ratio = ref_logprobs - logprobs
    if estimator == "k1":
        return -log_ratio
    if estimator == "k3":
        return log_ratio.exp() - 1 - log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r} (k1 or k3)")


def leave_one_out_scores(scores: torch.Tensor, scored: torch.Tensor, group_size: int) -> torch.Tensor:
    """Each score minus the mean score of the other scored responses to the same prompt.

    Rows come in groups of ``group_size`` consecutive responses to one prompt. A row with no other
    scored row in its group keeps its score. Subtracting a baseline that does not depend on the row's
    own response leaves the policy gradient unbiased (as in RLOO) and removes the prompt's difficulty
    from the advantage.
    """
    if scores.shape[0] % group_size:
        raise ValueError(f"{scores.shape[0]} scores do not split into groups of {group_size}")
    s = (scores * scored).view(-1, group_size)
    n = scored.view(-1, group_size).to(scores.dtype)
    others = n.sum(1, keepdim=True) - n
    baseline = torch.where(others > 0, (s.sum(1, keepdim=True) - s) / others.clamp(min=1.0), torch.zeros_like(s))
    return scores - baseline.view(-1)


def token_rewards(scores: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, kl_coef: float) -> torch.Tensor:
    """-kl_coef * KL on every response token, plus the sequence score on its last real token."""
    mask_f = mask.to(kl.dtype)
    rewards = -kl_coef * kl * mask_f
    last = (mask_f.sum(1).long() - 1).clamp(min=0)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    has_tokens = mask_f.sum(1) > 0
    rewards[rows[has_tokens], last[has_tokens]] += scores[has_tokens].to(rewards.dtype)
    return rewards


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation: (advantages, returns = advantages + values).

    Values and rewards past each response's end are zero, so the recursion bootstraps from 0 after
    the last real token (the episode ends there).
    """
    mask_f = mask.to(values.dtype)
    values = values * mask_f
    rewards = rewards * mask_f
    length = rewards.shape[1]
    last_gae = torch.zeros_like(rewards[:, 0])
    reversed_adv = []
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(last_gae)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_gae = delta + gamma * lam * last_gae
        reversed_adv.append(last_gae)
    advantages = torch.stack(reversed_adv[::-1], dim=1) * mask_f
    return advantages, (advantages + values) * mask_f


@dataclass
class AdaptiveKL:
    """Ziegler et al. (2019) controller: nudges the coefficient so the summed KL tracks ``target``."""

    value: float
    target: float
    horizon: int

    def update(self, current_kl: float, n_samples: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_samples / self.horizon

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}


@dataclass
class Advantages:
    """What the update needs from one rollout batch."""

    advantages: torch.Tensor
    returns: torch.Tensor
    rewards: torch.Tensor
    kl: torch.Tensor


def compute_advantages(
    scores: torch.Tensor, logprobs: torch.Tensor, ref_logprobs: torch.Tensor, values: torch.Tensor,
    mask: torch.Tensor, cfg: PPOConfig, *, kl_coef: float,
) -> Advantages:
    """Rewards (score + KL penalty), GAE, then whitened advantages where ``cfg`` says (TRL 1.12's order).

    The KL estimator, ``gamma``, ``lam`` and the whitening come from ``cfg``; ``kl_coef`` is passed
    because it changes during a run (adaptive KL, or 0 where the penalty is in the loss).
    """
    kl = kl_per_token(logprobs, ref_logprobs, cfg.kl_estimator) * mask.to(logprobs.dtype)
    rewards = token_rewards(scores, kl, mask, kl_coef)
    if cfg.whiten_rewards:
        rewards = whiten(rewards, mask, shift_mean=False)
    advantages, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)
    if cfg.whiten_advantages:
        advantages = whiten(advantages, mask)
    return Advantages(advantages, returns, rewards, kl)
