"""Rollouts: format prompts, sample responses with the policy, and score tokens under a model.

Generation is a plain KV-cached sampling loop rather than ``model.generate``: it stops when every
row has emitted EOS, keeps only the sampled token's log-probability (not the full logits), and
draws from an explicit ``torch.Generator`` so a resumed run samples exactly what the
uninterrupted run would have.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from rlit.errors import ConfigError
from rlit.training.ppo.config import PPORunConfig
from rlit.lm.decoding import preallocated_cache
from rlit.training.ppo.logprobs import chosen_logprobs, split_lm_head
from rlit.training.ppo.losses import token_entropy
from rlit.training.ppo.packing import response_states


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
    values: torch.Tensor | None = None  # [B, R] the value head's values of the policy's states, when it has one

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


def _draw(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One index per row with probability proportional to ``weights`` [B, V] (overwritten), by inverting the CDF.

    ``u`` holds one uniform in [0, 1) per row ([B, 1]). Same distribution as
    ``torch.multinomial(weights, 1)``, which on CPU draws an exponential variate for every
    vocabulary entry (most of a decoding step for a tiny model).
    """
    cdf = weights.cumsum_(-1)
    total = cdf[:, -1:]
    u = u.to(cdf.dtype) * total
    u = torch.minimum(u, torch.nextafter(total, torch.zeros_like(total)))  # u < total even after rounding
    return torch.searchsorted(cdf, u, right=True).squeeze(-1)  # first index whose CDF passes u


def _sample(weights: torch.Tensor, top_p: float, u: torch.Tensor) -> torch.Tensor:
    """A token per row with probability proportional to ``weights`` (overwritten) within the top-p nucleus."""
    if top_p < 1.0:
        sorted_w, order = weights.sort(dim=-1, descending=True)
        before = sorted_w.cumsum(-1) - sorted_w
        sorted_w.masked_fill_(before > top_p * weights.sum(-1, keepdim=True), 0.0)  # the smallest prefix reaching top_p
        return order.gather(-1, _draw(sorted_w, u)[:, None]).squeeze(-1)
    return _draw(weights, u)


@dataclass
class Samples:
    """What :func:`sample_responses` returns, each [B, R] (``states`` [B, R, d])."""

    response_ids: torch.Tensor  # pad after the first EOS
    response_mask: torch.Tensor  # bool, True up to and including the first EOS
    logprobs: torch.Tensor  # sampled tokens' log-probs under the tempered policy, 0 on padding
    states: torch.Tensor | None  # last hidden states that predicted each token (``keep_states``), else None


def _stepper(model: Any) -> Any:
    """``step(ids, attn, pos, cache) -> (last logits [n, V] float32, last hidden state [n, d] or None, cache)``.

    Where the model splits into backbone and LM head the head runs on the last position only and
    the hidden state comes for free; otherwise the model's own forward (hidden state only when it
    is asked for, through ``output_hidden_states``).
    """
    parts = split_lm_head(model)
    if parts is not None:
        backbone, head = parts

        def split_step(ids, attn, pos, cache, want_hidden):
            out = backbone(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True, **cache)
            hidden = out.last_hidden_state[:, -1]
            return torch.nn.functional.linear(hidden, head.weight, head.bias).float(), hidden, out.cache

        return split_step

    def own_step(ids, attn, pos, cache, want_hidden):
        out = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1,
                    output_hidden_states=want_hidden, **cache)
        return out.logits[:, -1, :].float(), out.hidden_states[-1][:, -1] if want_hidden else None, out.cache

    return own_step


def _prefill(step: Any, cache: Any, query_ids: torch.Tensor, query_mask: torch.Tensor, keep_states: bool) -> tuple[Any, Any, Any]:
    """The prompts' forward pass; a prompt repeated in the batch (``samples_per_prompt``) runs once
    and its cache rows are copied to each of its samples."""
    if cache is None:
        return step(query_ids, query_mask, positions(query_mask), {}, keep_states)
    rows, inverse = torch.unique(torch.cat([query_ids, query_mask], 1), dim=0, return_inverse=True)
    if rows.shape[0] == query_ids.shape[0]:
        return step(query_ids, query_mask, positions(query_mask), {"cache": cache}, keep_states)
    ids, mask = rows[:, : query_ids.shape[1]], rows[:, query_ids.shape[1] :]
    logits, hidden, cache = step(ids, mask, positions(mask), {"cache": cache}, keep_states)
    cache.batch_select_indices(inverse)
    return logits[inverse], None if hidden is None else hidden[inverse], cache


@torch.no_grad()
def sample_responses(
    model: Any, query_ids: torch.Tensor, query_mask: torch.Tensor, *, max_new_tokens: int,
    temperature: float, top_p: float, eos_token_id: int, pad_token_id: int, generator: torch.Generator,
    keep_states: bool = False,
) -> Samples:
    """Sample until EOS or ``max_new_tokens``; finished rows leave the decoded batch.

    Each step draws one uniform per row of the whole batch (finished rows' draws unused), so what a
    row samples does not depend on when the others finish.
    """
    batch, device = query_ids.shape[0], query_ids.device
    step = _stepper(model)
    cache = preallocated_cache(model, query_ids.shape[1] + max_new_tokens)  # keys/values written in place, not concatenated
    logits, hidden, cache = _prefill(step, cache, query_ids, query_mask, keep_states)
    tokens = torch.full((batch, max_new_tokens), pad_token_id, dtype=torch.long, device=device)
    logps = torch.zeros((batch, max_new_tokens), device=device)
    alive = torch.zeros((batch, max_new_tokens), dtype=torch.bool, device=device)
    states = torch.zeros((batch, max_new_tokens, hidden.shape[-1]), dtype=hidden.dtype, device=device) if keep_states else None
    live = torch.arange(batch, device=device)  # the batch row of each decoded row
    attn, next_pos = query_mask, query_mask.sum(1, keepdim=True)
    done = torch.zeros(batch, dtype=torch.bool, device=device)  # per decoded row: emitted EOS
    for t in range(max_new_tokens):
        # log-softmax written out so that each [n, V] pass happens once (a decoding step of a small
        # model is mostly these passes): z - max, its exp as sampling weights, their sum
        z = logits / temperature
        z.sub_(z.amax(-1, keepdim=True))
        weights = z.exp()
        log_total = weights.sum(-1).log()
        u = torch.rand((batch, 1), generator=generator, device=device)[live]
        tok = _sample(weights, top_p, u)
        logp = z.gather(-1, tok[:, None]).squeeze(-1) - log_total
        rows = live[~done]
        tokens[rows, t], logps[rows, t], alive[rows, t] = tok[~done], logp[~done], True
        if keep_states:
            states[rows, t] = hidden[~done]
        done = done | (tok == eos_token_id)
        n_done = int(done.sum())
        if n_done == done.shape[0] or t == max_new_tokens - 1:
            return Samples(tokens[:, : t + 1], alive[:, : t + 1], logps[:, : t + 1], None if states is None else states[:, : t + 1])
        if n_done * 8 >= done.shape[0] and hasattr(cache, "batch_select_indices"):
            # dropping rows copies the cache, so finished rows wait until they are an eighth of the batch
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            live, attn, next_pos, tok, done = live[keep], attn[keep], next_pos[keep], tok[keep], done[keep]
        attn = torch.cat([attn, attn.new_ones((attn.shape[0], 1))], dim=1)
        ids = torch.where(done, torch.full_like(tok, pad_token_id), tok)[:, None]
        logits, hidden, cache = step(ids, attn, next_pos + t, {"cache": cache}, keep_states)
    raise AssertionError("unreachable: the loop returns at its last step")


def token_logprobs(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_len: int, temperature: float,
    value_head: Any = None, with_entropy: bool = False, values_only: bool = False,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """(log-probs of the last ``response_len`` tokens, their entropies or None, values or None), each [B, R].

    Only the states that predict response tokens go through the LM head, which is most of the cost
    of a small model with a large vocabulary; where the model splits into backbone and head
    (:func:`~rlit.training.ppo.logprobs.split_lm_head`) the backbone runs on packed rows without
    padding (:func:`~rlit.training.ppo.packing.response_states`) and the head and softmax run
    fused, without materialising logits. The entropy (no gradient) is computed only when asked
    for. With a ``value_head`` (value head on the policy), the values come from the same forward's
    last hidden states. ``values_only`` (the critic warm-up of a value head on the policy): the
    policy runs without gradient and only the values come back, so the value loss trains the head alone.
    """
    targets = input_ids[:, -response_len:]
    parts = split_lm_head(model)
    if parts is not None:
        with torch.no_grad() if values_only else nullcontext():
            states = response_states(parts[0], input_ids, attention_mask, response_len)
        if values_only:
            return None, None, value_head.values(states)
        # only real response tokens go through the LM head; padding gets log-prob and entropy 0
        real = attention_mask[:, -response_len:].bool()
        logp, ent = chosen_logprobs(states[real], parts[1], targets[real], temperature, with_entropy)
        values = value_head.values(states) if value_head is not None else None
        zeros = torch.zeros(targets.shape, dtype=logp.dtype, device=logp.device)
        return zeros.masked_scatter(real, logp), None if ent is None else zeros.masked_scatter(real, ent), values
    if values_only:
        with torch.no_grad():
            out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask),
                        use_cache=False, logits_to_keep=1, output_hidden_states=True)
        return None, None, value_head(out.hidden_states[-1], response_len)
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


def decode_completions(tokenizer: Any, response_ids: torch.Tensor, response_mask: torch.Tensor, eos_token_id: int) -> list[str]:
    """Response texts without EOS and padding."""
    texts = []
    for ids, mask in zip(response_ids.tolist(), response_mask.tolist()):
        kept = [i for i, m in zip(ids, mask) if m and i != eos_token_id]
        texts.append(tokenizer.decode(kept, skip_special_tokens=True))
    return texts


def generate_rollout(
    model: Any, tokenizer: Any, prompts: list[str], cfg: PPORunConfig, *, generator: torch.Generator,
    device: torch.device, value_head: Any = None,
) -> Rollout:
    """Format, encode and sample one batch as ``cfg.data`` and ``cfg.generation`` say; the policy must be
    unwrapped (no DDP wrapper).

    With a ``value_head`` on the policy, the rollout's values come from the hidden states the
    sampling computed anyway (the same states a forward pass over the rollout would give).
    """
    g = cfg.generation
    texts, templated = format_prompts(tokenizer, prompts, cfg.data.chat_template)
    query_ids, query_mask = encode_prompts(tokenizer, texts, templated, cfg.data.max_prompt_tokens, device)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    out = sample_responses(
        model, query_ids, query_mask, max_new_tokens=g.max_new_tokens, temperature=g.temperature,
        top_p=g.top_p, eos_token_id=eos, pad_token_id=pad, generator=generator, keep_states=value_head is not None,
    )
    values = None
    if value_head is not None:
        with torch.no_grad():
            values = value_head.values(out.states) * out.response_mask  # 0 on padding, as a forward's masked values
    has_eos = ((out.response_ids == eos) & out.response_mask).any(1)
    completions = decode_completions(tokenizer, out.response_ids, out.response_mask, eos)
    return Rollout(query_ids, query_mask, out.response_ids, out.response_mask, out.logprobs, has_eos, list(prompts), completions, values)
