"""Rollouts: format prompts, sample responses with the policy, and score tokens under a model.

Generation is a plain KV-cached sampling loop rather than ``model.generate``: it stops when every
row has emitted EOS, keeps only the sampled token's log-probability (not the full logits), and
draws from an explicit ``torch.Generator`` so a resumed run samples exactly what the
uninterrupted run would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rlit.errors import ConfigError
from rlit.lm.decoding import preallocated_cache
from rlit.training.ppo.logprobs import chosen_logprobs, split_lm_head
from rlit.training.ppo.losses import token_entropy


@dataclass
class Rollout:
    """One batch of prompts and sampled responses (``P`` prompt and ``R`` response positions)."""

    query_ids: torch.Tensor  # [B, P], left-padded
    query_mask: torch.Tensor  # [B, P], 1 on real prompt tokens
    response_ids: torch.Tensor  # [B, R], pad after the first EOS
    response_mask: torch.Tensor  # [B, R], 1 on response tokens up to and including the first EOS
    logprobs: torch.Tensor  # [B, R], sampled tokens' log-probs under the (tempered) policy, 0 on padding
    has_eos: torch.Tensor  # [B] bool
    prompts: list[str]  # the raw prompt texts (as the reward sources see them)
    completions: list[str]  # decoded responses without EOS

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.query_ids, self.response_ids], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.query_mask, self.response_mask.long()], dim=1)


def format_prompts(tokenizer: Any, prompts: list[str], chat_template: str = "auto") -> tuple[list[str], bool]:
    """The model inputs: each prompt as a user turn of the chat template, or the raw text."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat_template == "always" and not has_template:
        raise ConfigError("[data] chat_template = 'always' but the policy's tokenizer has no chat template")
    if chat_template == "never" or not has_template:
        return list(prompts), False
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False) for p in prompts]
    return texts, True


def encode_prompts(tokenizer: Any, texts: list[str], templated: bool, max_tokens: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and mask; prompts longer than ``max_tokens`` keep their last tokens."""
    ids = [tokenizer(t, add_special_tokens=not templated)["input_ids"][-max_tokens:] for t in texts]
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        if x:
            out[i, width - len(x):] = torch.tensor(x)
            mask[i, width - len(x):] = 1
    return out.to(device), mask.to(device)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding."""
    return (mask.cumsum(1) - 1).clamp(min=0)


def _draw(weights: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row with probability proportional to ``weights`` [B, V] (overwritten), by inverting the CDF.

    Same distribution as ``torch.multinomial(weights, 1)``, which on CPU draws an exponential
    variate for every vocabulary entry (most of a decoding step for a tiny model); this draws one
    uniform per row.
    """
    cdf = weights.cumsum_(-1)
    total = cdf[:, -1:]
    u = torch.rand(total.shape, generator=generator, device=weights.device, dtype=cdf.dtype) * total
    u = torch.minimum(u, torch.nextafter(total, torch.zeros_like(total)))  # u < total even after rounding
    return torch.searchsorted(cdf, u, right=True).squeeze(-1)  # first index whose CDF passes u


def _sample(weights: torch.Tensor, top_p: float, generator: torch.Generator) -> torch.Tensor:
    """A token per row with probability proportional to ``weights`` (overwritten) within the top-p nucleus."""
    if top_p < 1.0:
        sorted_w, order = weights.sort(dim=-1, descending=True)
        before = sorted_w.cumsum(-1) - sorted_w
        sorted_w.masked_fill_(before > top_p * weights.sum(-1, keepdim=True), 0.0)  # the smallest prefix reaching top_p
        return order.gather(-1, _draw(sorted_w, generator)[:, None]).squeeze(-1)
    return _draw(weights, generator)


@torch.no_grad()
def sample_responses(
    model: Any, query_ids: torch.Tensor, query_mask: torch.Tensor, *, max_new_tokens: int,
    temperature: float, top_p: float, eos_token_id: int, pad_token_id: int, generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample until EOS or ``max_new_tokens``: (response_ids, response_mask, logprobs), each [B, R]."""
    batch = query_ids.shape[0]
    device = query_ids.device
    attn = query_mask.clone()
    next_pos = query_mask.sum(1, keepdim=True)
    cache = preallocated_cache(model, query_ids.shape[1] + max_new_tokens)  # keys/values written in place, not concatenated
    extra = {} if cache is None else {"cache": cache}
    out = model(input_ids=query_ids, attention_mask=attn, position_ids=positions(query_mask), use_cache=True, logits_to_keep=1, **extra)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    tokens, logps, alive = [], [], []
    for t in range(max_new_tokens):
        # log-softmax written out so that each [B, V] pass happens once (a decoding step of a small
        # model is mostly these passes): z - max, its exp as sampling weights, their sum
        z = out.logits[:, -1, :].float() / temperature
        z.sub_(z.amax(-1, keepdim=True))
        weights = z.exp()
        log_total = weights.sum(-1).log()
        tok = _sample(weights, top_p, generator)
        logp = z.gather(-1, tok[:, None]).squeeze(-1) - log_total
        alive.append(~done)
        tokens.append(torch.where(done, torch.full_like(tok, pad_token_id), tok))
        logps.append(torch.where(done, torch.zeros_like(logp), logp))
        done = done | (tok == eos_token_id)
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        attn = torch.cat([attn, torch.ones((batch, 1), dtype=attn.dtype, device=device)], dim=1)
        out = model(input_ids=tokens[-1][:, None], attention_mask=attn, position_ids=next_pos + t, cache=out.cache, use_cache=True)
    return torch.stack(tokens, 1), torch.stack(alive, 1), torch.stack(logps, 1)


def token_logprobs(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_len: int, temperature: float,
    value_head: Any = None, with_entropy: bool = False, values_only: bool = False,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(log-probs of the last ``response_len`` tokens, their entropies or None, values or None), each [B, R].

    Only the states that predict response tokens go through the LM head, which is most of the cost
    of a small model with a large vocabulary; where the model splits into backbone and head
    (:func:`~rlit.training.ppo.logprobs.split_lm_head`) the head and softmax run fused, without
    materialising logits. The entropy (no gradient) is computed only when asked for. With a
    ``value_head`` (value head on the policy), the values come from the same forward's last hidden
    states. ``values_only`` (the critic warm-up of a value head on the policy): the policy runs
    without gradient and only the values come back, so the value loss trains the head alone.
    """
    targets = input_ids[:, -response_len:]
    parts = split_lm_head(model)
    if values_only:
        with torch.no_grad():
            hidden = _last_hidden_state(model, parts, input_ids, attention_mask)
        return None, None, value_head(hidden, response_len)
    if parts is not None:
        backbone, head = parts
        hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask),
                          use_cache=False).last_hidden_state
        states = hidden[:, -response_len - 1 : -1, :].reshape(-1, hidden.shape[-1])
        logp, ent = chosen_logprobs(states, head, targets.reshape(-1), temperature, with_entropy)
        values = value_head(hidden, response_len) if value_head is not None else None
        return logp.view(targets.shape), None if ent is None else ent.view(targets.shape), values
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask), use_cache=False,
        logits_to_keep=response_len + 1, output_hidden_states=value_head is not None,
    )
    logits = out.logits[:, :-1, :].float() / temperature
    # a model that does not split: its logits, then cross_entropy (the cheapest log-softmax-and-gather on them)
    logp = -torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view(targets.shape)
    ent = token_entropy(logits.detach()) if with_entropy else None
    values = value_head(out.hidden_states[-1], response_len) if value_head is not None else None
    return logp, ent, values


def _last_hidden_state(model: Any, parts: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask), use_cache=False)
    if parts is not None:
        return parts[0](**kwargs).last_hidden_state
    return model(**kwargs, logits_to_keep=1, output_hidden_states=True).hidden_states[-1]


def decode_completions(tokenizer: Any, response_ids: torch.Tensor, response_mask: torch.Tensor, eos_token_id: int) -> list[str]:
    """Response texts without EOS and padding."""
    texts = []
    for ids, mask in zip(response_ids.tolist(), response_mask.tolist()):
        kept = [i for i, m in zip(ids, mask) if m and i != eos_token_id]
        texts.append(tokenizer.decode(kept, skip_special_tokens=True))
    return texts


def generate_rollout(
    model: Any, tokenizer: Any, prompts: list[str], *, chat_template: str, max_prompt_tokens: int,
    max_new_tokens: int, temperature: float, top_p: float, generator: torch.Generator, device: torch.device,
) -> Rollout:
    """Format, encode and sample one batch; the policy must be unwrapped (no DDP wrapper)."""
    texts, templated = format_prompts(tokenizer, prompts, chat_template)
    query_ids, query_mask = encode_prompts(tokenizer, texts, templated, max_prompt_tokens, device)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    response_ids, response_mask, logprobs = sample_responses(
        model, query_ids, query_mask, max_new_tokens=max_new_tokens, temperature=temperature,
        top_p=top_p, eos_token_id=eos, pad_token_id=pad, generator=generator,
    )
    has_eos = ((response_ids == eos) & response_mask).any(1)
    completions = decode_completions(tokenizer, response_ids, response_mask, eos)
    return Rollout(query_ids, query_mask, response_ids, response_mask, logprobs, has_eos, list(prompts), completions)
