"""Loading the policy, its frozen reference and the critic for a PPO run."""

from __future__ import annotations

import copy
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from rlit.training.ppo.config import ModelConfig
from rlit.training.ppo.value import Critic, SharedValueHead, _hidden_size, critic_from_causal_lm, load_critic
from rlit.training.trl_common import apply_lora
from rlit.lm.loading import load_causal_lm


def disable_dropout(model: torch.nn.Module) -> None:
    """PPO's ratio needs the rollout and update forwards to agree (TRL's PPO does the same)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0


@dataclass
class PPOModels:
    """The networks of a run. ``reference`` is None with LoRA: the policy with adapters disabled is the reference."""

    policy: Any
    tokenizer: Any
    reference: Any | None
    critic: Critic | None
    value_head: SharedValueHead | None
    uses_lora: bool

    @contextmanager
    def reference_model(self, unwrapped_policy: Any) -> Iterator[Any]:
        """The frozen reference to score tokens with (the base model when the policy is LoRA)."""
        if self.reference is not None:
            yield self.reference
            return
        with unwrapped_policy.disable_adapter() if self.uses_lora else nullcontext():
            yield unwrapped_policy

    def value_module(self) -> torch.nn.Module:
        return self.value_head if self.value_head is not None else self.critic  # type: ignore[return-value]


def load_models(cfg: ModelConfig, device: torch.device) -> PPOModels:
    """Policy (optionally LoRA), reference (a frozen copy, another model, or the adapter-free base), critic."""
    policy, tokenizer = load_causal_lm(cfg.policy, dtype=cfg.dtype, device=str(device))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = getattr(torch, cfg.dtype)
    critic = value_head = None
    if cfg.value_head_on_policy:
        value_head = SharedValueHead(_hidden_size(policy.config)).to(device=device, dtype=dtype)
    elif cfg.value_model:
        critic = load_critic(cfg.value_model, dtype).to(device)
    else:
        critic = critic_from_causal_lm(policy).to(device)
    reference = None
    if cfg.reference:
        reference, _ = load_causal_lm(cfg.reference, dtype=cfg.dtype, device=str(device))
    elif cfg.lora is None:
        reference = copy.deepcopy(policy)
    if reference is not None:
        reference.requires_grad_(False).eval()
        disable_dropout(reference)
    policy = apply_lora(policy, cfg.lora)
    for model in (policy, critic, value_head):
        if model is not None:
            disable_dropout(model)
            model.train()
    return PPOModels(policy, tokenizer, reference, critic, value_head, cfg.lora is not None)
