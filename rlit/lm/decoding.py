"""A decode loop over the model's KV cache that drops finished rows from the batch.

``model.generate`` keeps decoding every row of a batch until the longest one ends, so with a large
``max_new_tokens`` one long answer keeps seven finished rows in every forward pass. This loop does
what ``generate`` does for greedy and plain temperature/top-p sampling (same prefill, position ids,
attention mask, float32 logits, argmax or softmax + multinomial), but removes a row from the
inputs and the cache as soon as it emits an end-of-sequence token.

The cache is transformers' own ``DynamicCache`` whose full-attention layers write into buffers
sized for the whole generation instead of concatenating: ``DynamicLayer.update`` copies the whole
cache of a layer for every new token, a third of the CPU time of a decode step at 800 tokens.

Used only where it is the same computation as ``generate``: a decoder-only model whose generation
config asks for nothing beyond that (no repetition penalty, banned words, minimum length...), and
a cache that can drop rows. Anything else goes to ``model.generate``.
"""

from __future__ import annotations

import inspect
from typing import Any

# generation_config entries that do not change which tokens greedy/top-p decoding picks (the
# sampling knobs are set explicitly by the caller, the stopping ones are handled here).
_NEUTRAL_CONFIG_KEYS = {
    "bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "max_length", "max_new_tokens",
    "do_sample", "temperature", "top_p", "top_k", "use_cache", "output_attentions", "output_hidden_states",
    "output_scores", "output_logits", "return_dict_in_generate", "transformers_version", "_from_model_config",
}


def supports_fast_decode(model: Any) -> bool:
    """True when ``decode`` computes exactly what ``model.generate`` would for this model."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    gen_config = getattr(model, "generation_config", None)
    extra = set(gen_config.to_diff_dict()) - _NEUTRAL_CONFIG_KEYS if gen_config is not None else set()
    return not extra


def decode(
    model: Any,
    input_ids: Any,
    attention_mask: Any,
    max_new_tokens: int,
    eos_token_ids: list[int],
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: Any = None,
) -> list[list[int]]:
    """New token ids per row (ending with the end-of-sequence token where one was emitted).

    ``input_ids``/``attention_mask`` are a left-padded batch on the model's device; ``generator``
    (a ``torch.Generator``) makes sampling reproducible without touching the global seed.
    """
    import torch

    params = set(inspect.signature(model.forward).parameters)
    cache_key = "cache" if "cache" in params else "past_key_values"
    position_ids = attention_mask.long().cumsum(-1) - 1
    position_ids = position_ids.masked_fill(attention_mask == 0, 0)
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": True}
    cache = preallocated_cache(model, input_ids.shape[1] + max_new_tokens)
    if cache is not None:
        inputs[cache_key] = cache
    if "position_ids" in params:
        inputs["position_ids"] = position_ids
    if "logits_to_keep" in params:
        inputs["logits_to_keep"] = 1  # the prompt's other positions need no logits (generate does the same)
    eos = torch.tensor(eos_token_ids or [-1], device=input_ids.device)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)  # original row of each live row
    tokens: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            out = model(**inputs)
            cache = out.get("cache") if out.get("cache") is not None else out.get("past_key_values")
            logits = out.logits[:, -1].to(dtype=torch.float32)
            nxt = _pick(logits, do_sample, temperature, top_p, generator)
            for row, tok in zip(rows.tolist(), nxt.tolist()):
                tokens[row].append(tok)
            live = ~torch.isin(nxt, eos)
            if not bool(live.any()):
                break
            if not bool(live.all()):
                if not hasattr(cache, "batch_select_indices"):
                    raise RuntimeError(f"{type(cache).__name__} cannot drop finished rows")
                keep = live.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                rows, nxt, position_ids = rows[keep], nxt[keep], position_ids[keep]
                attention_mask = attention_mask[keep]
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=-1)
            position_ids = position_ids[:, -1:] + 1
            inputs = {"input_ids": nxt[:, None], "attention_mask": attention_mask, cache_key: cache, "use_cache": True}
            if "position_ids" in params:
                inputs["position_ids"] = position_ids
    return tokens


def _pick(logits: Any, do_sample: bool, temperature: float, top_p: float, generator: Any) -> Any:
    """Greedy argmax, or generate's sampling: temperature, then top-p (keeping at least one token)."""
    import torch

    if not do_sample:
        return torch.argmax(logits, dim=-1)
    scores = logits / temperature if temperature != 1.0 else logits
    if top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= (1 - top_p)
        drop[..., -1:] = False
        scores = scores.masked_fill(drop.scatter(1, order, drop), -float("inf"))
    probs = torch.nn.functional.softmax(scores, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


def preallocated_cache(model: Any, capacity: int) -> Any:
    """A ``DynamicCache`` for ``model`` whose plain layers preallocate ``capacity`` positions, or
    None (the model's default cache) where this transformers version or model has no such layers."""
    try:
        from transformers.cache_utils import DynamicCache, DynamicLayer
    except ImportError:
        return None
    try:
        cache = DynamicCache(config=model.config)
    except Exception:  # a config the generic cache cannot read: let the model make its own
        return None
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return None
    cache.layers = [_preallocated_layer_class(DynamicLayer)(capacity) for _ in layers]
    return cache


_LAYER_CLASS: Any = None


def _preallocated_layer_class(base: Any) -> Any:
    """``DynamicLayer`` with buffers written in place (defined on first use: transformers is imported lazily)."""
    global _LAYER_CLASS
    if _LAYER_CLASS is not None:
        return _LAYER_CLASS

    class PreallocatedLayer(base):
        def __init__(self, capacity: int):
            super().__init__()
            self.capacity = capacity

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self._k = key_states.new_empty((*key_states.shape[:-2], self.capacity, key_states.shape[-1]))
                self._v = value_states.new_empty((*value_states.shape[:-2], self.capacity, value_states.shape[-1]))
                self._n = 0
            end = self._n + key_states.shape[-2]
            if end > self._k.shape[-2]:  # more than planned: grow (not expected in the decode loop)
                import torch

                self._k = torch.cat([self._k, torch.empty_like(self._k)], dim=-2)
                self._v = torch.cat([self._v, torch.empty_like(self._v)], dim=-2)
            self._k[..., self._n:end, :] = key_states
            self._v[..., self._n:end, :] = value_states
            self._n = end
            self.keys, self.values = self._k[..., :end, :], self._v[..., :end, :]
            return self.keys, self.values

        def batch_select_indices(self, indices: Any) -> None:
            if self.is_initialized:
                self._k, self._v = self._k[indices, ...], self._v[indices, ...]
                self.keys, self.values = self._k[..., :self._n, :], self._v[..., :self._n, :]

    _LAYER_CLASS = PreallocatedLayer
    return _LAYER_CLASS
