"""PPO's clipped losses and the diagnostics logged with them (TRL 1.12's definitions)."""

from __future__ import annotations

import torch

from rlit.training.ppo.advantages import masked_mean


def policy_loss(new_logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, cliprange: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clipped surrogate: mean over tokens of max(-A r, -A clip(r, 1-c, 1+c)).

    Returns (loss, clip fraction, approx KL = 0.5 * mean((new - old)^2)).
    """
    log_ratio = (new_logprobs - old_logprobs) * mask.to(new_logprobs.dtype)
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((clipped > unclipped).to(ratio.dtype), mask)
        approx_kl = 0.5 * masked_mean(log_ratio**2, mask)
    return loss, clipfrac, approx_kl


def value_loss(new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, cliprange_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss: 0.5 * mean(max((v - R)^2, (clip(v, v_old +- c) - R)^2)); returns (loss, clip fraction)."""
    clipped_values = old_values + (new_values - old_values).clamp(-cliprange_value, cliprange_value)
    loss_unclipped = (new_values - returns) ** 2
    loss_clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean((loss_clipped > loss_unclipped).to(new_values.dtype), mask)
    return loss, clipfrac


@torch.no_grad()
def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-token entropy of the (tempered) policy, [..., V] -> [...]: logsumexp(z) - sum(softmax(z) * z)."""
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean per-token entropy over the masked tokens."""
    return masked_mean(token_entropy(logits), mask)
