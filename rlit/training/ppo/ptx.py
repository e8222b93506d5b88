"""PPO-ptx (InstructGPT, Ouyang et al. 2022): the instruction-tuning loss on demonstration rows,
mixed into every policy update so that what PPO does not reward is not forgotten.

The rows are prompt/completion JSONL (the SFT data). Prompts are formatted and encoded exactly as
the rollout encodes them (chat template, left padding, ``max_prompt_tokens``), the completion
follows with EOS, and the loss is the mean negative log-likelihood of the completion tokens
(temperature 1, whatever the sampling temperature).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rlit.jsonl import read_rows
from rlit.training.ppo.advantages import masked_mean
from rlit.training.ppo.data import PromptStream
from rlit.training.ppo.rollout import encode_prompts, format_prompts, token_logprobs


@dataclass
class PtxBatch:
    """Left-padded prompts followed by right-padded completions (``R`` positions)."""

    input_ids: torch.Tensor  # [B, P + R]
    attention_mask: torch.Tensor  # [B, P + R]
    completion_mask: torch.Tensor  # [B, R] 1 on completion tokens (EOS included)


class PtxData:
    """Demonstration rows served in a seeded, checkpointable order (state: ``stream.position``)."""

    def __init__(self, path: str, prompt_column: str, completion_column: str, seed: int, *, tokenizer: Any,
                 chat_template: str, max_prompt_tokens: int, max_completion_tokens: int, device: torch.device):
        rows = read_rows(path, (prompt_column, completion_column), what="PPO-ptx rows")
        # its own seed offset, so the demonstrations are not served in the prompts' order
        self.stream = PromptStream(rows, seed + 7919)
        self.tokenizer, self.device = tokenizer, device
        self.prompt_column, self.completion_column = prompt_column, completion_column
        self.chat_template, self.max_prompt_tokens, self.max_completion_tokens = chat_template, max_prompt_tokens, max_completion_tokens

    def next_batch(self, size: int) -> PtxBatch:
        rows = self.stream.next_batch(size)
        return encode_ptx_batch(self.tokenizer, [r[self.prompt_column] for r in rows], [r[self.completion_column] for r in rows],
                                chat_template=self.chat_template, max_prompt_tokens=self.max_prompt_tokens,
                                max_completion_tokens=self.max_completion_tokens, device=self.device)


def encode_ptx_batch(tokenizer: Any, prompts: list[str], completions: list[str], *, chat_template: str,
                     max_prompt_tokens: int, max_completion_tokens: int, device: torch.device) -> PtxBatch:
    """Prompts as the rollout encodes them, then each completion + EOS (cut to ``max_completion_tokens``)."""
    texts, templated = format_prompts(tokenizer, prompts, chat_template)
    query_ids, query_mask = encode_prompts(tokenizer, texts, templated, max_prompt_tokens, device)
    eos = tokenizer.eos_token_id
    ids = [(tokenizer(c, add_special_tokens=False)["input_ids"] + [eos])[:max_completion_tokens] for c in completions]
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    comp = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        comp[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    comp, mask = comp.to(device), mask.to(device)
    return PtxBatch(torch.cat([query_ids, comp], 1), torch.cat([query_mask, mask], 1), mask)


def ptx_loss(policy: Any, batch: PtxBatch) -> torch.Tensor:
    """Mean negative log-likelihood of the completion tokens under ``policy``."""
    logp, _, _ = token_logprobs(policy, batch.input_ids, batch.attention_mask, batch.completion_mask.shape[1], 1.0)
    return -masked_mean(logp, batch.completion_mask.bool())
