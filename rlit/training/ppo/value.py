"""The critic: a separate value model (default) or a scalar head on the policy's own backbone.

A separate critic is a transformer backbone plus a linear head giving one value per position. It
is initialised from a sequence classifier (its backbone and score head, as TRL's PPO does with a
reward model) or from a causal LM (its backbone plus a new zero-initialised head).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from rlit.training.ppo.packing import response_states


def _hidden_size(config: Any) -> int:
    return int(getattr(config, "hidden_size", None) or getattr(config, "n_embd"))


def new_head(hidden: int) -> nn.Linear:
    head = nn.Linear(hidden, 1)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


class Critic(nn.Module):
    """Backbone + scalar head; ``forward`` gives the value of the state before each response token."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_len: int) -> torch.Tensor:
        states = response_states(self.backbone, input_ids, attention_mask, response_len)
        return self.head(states).squeeze(-1).float()


def critic_from_causal_lm(model: Any) -> Critic:
    """A critic whose backbone is a copy of a causal LM's transformer (no LM head)."""
    base = getattr(model, "get_base_model", lambda: model)()
    backbone = copy.deepcopy(getattr(base, base.base_model_prefix))
    return Critic(backbone, new_head(_hidden_size(base.config)).to(next(backbone.parameters()).dtype))


def load_critic(name: str, dtype: torch.dtype) -> Critic:
    """A critic from a folder or hub id: a sequence classifier keeps its score head, else a new head."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(name)
    if any("ForSequenceClassification" in a for a in (config.architectures or [])):
        model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1, dtype=dtype)
        head = getattr(model, "score", None) or getattr(model, "classifier")
        return Critic(getattr(model, model.base_model_prefix), head)
    backbone = AutoModel.from_pretrained(name, dtype=dtype)
    return Critic(backbone, new_head(_hidden_size(config)).to(dtype))


class SharedValueHead(nn.Module):
    """A scalar head read off the policy's last hidden states (``value_head_on_policy = true``)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.head = new_head(hidden)

    def forward(self, hidden_states: torch.Tensor, response_len: int) -> torch.Tensor:
        return self.values(hidden_states[:, -response_len - 1 : -1, :])

    def values(self, states: torch.Tensor) -> torch.Tensor:
        """The value of each state, [B, R, d] -> [B, R] (the states that predict the response tokens)."""
        return self.head(states).squeeze(-1).float()
