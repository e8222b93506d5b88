"""Batched, cached generation with Hugging Face models (CPU or GPU).

The prompt goes through the tokenizer's chat template when it has one (``chat_template="auto"``)
and is used raw otherwise; which one was used is returned so the manifest can record it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from rlit.devices import resolve_dtype
from rlit.errors import ConfigError
from rlit.lm.builtin import stored_fingerprint
from rlit.lm.cache import JsonlCache, digest
from rlit.lm.decoding import decode, supports_fast_decode
from rlit.lm.fingerprint import model_fingerprint
from rlit.lm.loading import load_causal_lm


class GenerationSettings(BaseModel):
    """How completions are generated; every field except batch_size is part of the cache key."""

    # nan/inf pass every gt/lt bound (comparisons with nan are false), so reject them outright.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_new_tokens: int = Field(256, ge=1, description="New tokens per completion.")
    do_sample: bool = Field(False, description="Sample (true) or greedy decoding (false).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature (only when do_sample).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass (only when do_sample).")
    seed: int = Field(0, description="Seed for sampling; sample i uses seed + i.")
    samples: int = Field(1, ge=1, description="Completions per prompt (scores are averaged per prompt).")
    chat_template: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: use the tokenizer's chat template when it has one, else the raw prompt.")
    system_prompt: str | None = Field(None, description="Optional system message when a chat template is used.")
    batch_size: int = Field(8, ge=1, description="Prompts per generate() call (not part of the cache key).")

    def cache_fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"batch_size"})


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str
    fingerprint: str
    device: str
    dtype: str = "float32"
    model_args: dict[str, Any] = field(default_factory=dict)


def load_model(model: Any, tokenizer: Any = None, device: str | None = None, dtype: str = "float32",
               model_args: dict[str, Any] | None = None) -> LoadedModel:
    """A name/path/built-in (loaded with rlit.lm.loading) or an in-memory model object plus its tokenizer.
    ``dtype`` may be ``auto``; the LoadedModel records the dtype actually used."""
    args = dict(model_args or {})
    if isinstance(model, str):
        dev = device or _default_device()
        dtype = resolve_dtype(dtype, dev)
        m, tok = load_causal_lm(model, dtype=dtype, device=dev, model_args=args)
        dev = str(next(m.parameters()).device) if "device_map" in args else dev
        name = model
        # A built-in's saved copy carries the hash of its weights: no need to hash them again.
        fingerprint = None if args else stored_fingerprint(model, dtype)
    else:
        if tokenizer is None:
            raise ConfigError("evaluate(model=<object>) needs tokenizer=<its tokenizer>")
        m, tok = model, tokenizer
        param = next(m.parameters())
        dev, dtype = str(param.device), str(param.dtype).removeprefix("torch.")
        name = getattr(getattr(m, "config", None), "_name_or_path", "") or type(m).__name__
        fingerprint = None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return LoadedModel(m, tok, name, fingerprint or model_fingerprint(m), dev, dtype, args)


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def prompt_format(tokenizer: Any, settings: GenerationSettings) -> str:
    """``chat_template`` or ``raw``: how prompts are given to this model under these settings."""
    has = bool(getattr(tokenizer, "chat_template", None))
    if settings.chat_template == "always" and not has:
        raise ConfigError("generation.chat_template = 'always' but the tokenizer has no chat template")
    return "chat_template" if has and settings.chat_template != "never" else "raw"


def render(tokenizer: Any, prompt: str, settings: GenerationSettings) -> str:
    if prompt_format(tokenizer, settings) == "raw":
        return prompt
    messages = ([{"role": "system", "content": settings.system_prompt}] if settings.system_prompt else [])
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def generate(
    lm: LoadedModel,
    prompts: list[str],
    settings: GenerationSettings,
    cache: JsonlCache | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[list[str]]:
    """``settings.samples`` completions per prompt; cached ones are not regenerated."""
    texts = [render(lm.tokenizer, p, settings) for p in prompts]
    keys = [[digest([t, s]) for s in range(settings.samples)] for t in texts]
    cache = cache or JsonlCache(None, "generations", {})
    lengths = _token_lengths(lm.tokenizer, texts)
    for s in range(settings.samples):
        todo = [i for i in range(len(texts)) if keys[i][s] not in cache]
        if progress:
            progress(len(texts) - len(todo))
        todo.sort(key=lambda i: -lengths[i])  # similar lengths batch with less padding; longest first, like lm-eval
        for start in range(0, len(todo), settings.batch_size):
            batch = todo[start:start + settings.batch_size]
            outs = _generate_batch(lm, [texts[i] for i in batch], settings, settings.seed + s)
            cache.put_many({keys[i][s]: o for i, o in zip(batch, outs)})
            if progress:
                progress(len(batch))
    return [[cache.get(k) for k in row] for row in keys]


def _token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    if not texts:
        return []
    add_special = not (tokenizer.bos_token and texts[0].startswith(tokenizer.bos_token))
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=add_special)["input_ids"]]


def generation_cache(root: Any, lm: LoadedModel, settings: GenerationSettings) -> JsonlCache:
    # dtype and model_args change the numbers (and revision the weights): part of the key.
    key = {"model": lm.fingerprint, "dtype": lm.dtype, "model_args": lm.model_args, "settings": settings.cache_fields()}
    return JsonlCache(root, "generations", key,
                      valid=lambda v: isinstance(v, str))


def _generate_batch(lm: LoadedModel, texts: list[str], settings: GenerationSettings, seed: int) -> list[str]:
    """Left-padded batch generation; the caller's model mode and tokenizer sides are restored
    (the trainer passes its live policy and tokenizer)."""
    tok, model = lm.tokenizer, lm.model
    saved = (tok.padding_side, tok.truncation_side, model.training)
    try:
        model.eval()
        return _generate_left_padded(lm, texts, settings, seed)
    finally:
        tok.padding_side, tok.truncation_side = saved[0], saved[1]
        model.train(saved[2])


def _generate_left_padded(lm: LoadedModel, texts: list[str], settings: GenerationSettings, seed: int) -> list[str]:
    import torch

    tok, model = lm.tokenizer, lm.model
    tok.padding_side = "left"
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    # A small context (e.g. a 256-position test model) keeps at least half of it for the prompt;
    # the completion then gets what is left, so the model is judged on what it can produce.
    max_prompt = None if limit is None else max(limit // 2, limit - settings.max_new_tokens)
    tok.truncation_side = "left"  # keep the end of a long prompt (where the question is)
    add_special = not (texts and tok.bos_token and texts[0].startswith(tok.bos_token))
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=add_special,
              truncation=max_prompt is not None, max_length=max_prompt)
    enc = {k: v.to(lm.device) for k, v in enc.items()}
    new_tokens = settings.max_new_tokens if limit is None else min(settings.max_new_tokens, limit - enc["input_ids"].shape[1])
    generator = None
    if settings.do_sample:
        generator = torch.Generator(device=enc["input_ids"].device).manual_seed(seed)
    if supports_fast_decode(model):
        eos = model.generation_config.eos_token_id
        eos_ids = [] if eos is None else ([eos] if isinstance(eos, int) else list(eos))
        rows = decode(model, enc["input_ids"], enc["attention_mask"], new_tokens, eos_ids, settings.do_sample,
                      settings.temperature, settings.top_p, generator)
        return tok.batch_decode(rows, skip_special_tokens=True)
    return _hf_generate(lm, enc, new_tokens, settings, seed)


def _hf_generate(lm: LoadedModel, enc: dict[str, Any], new_tokens: int, settings: GenerationSettings, seed: int) -> list[str]:
    """``model.generate``, for models whose generation config asks for more than decoding.py does."""
    import torch

    tok, model = lm.tokenizer, lm.model
    kwargs: dict[str, Any] = dict(max_new_tokens=new_tokens, do_sample=settings.do_sample, pad_token_id=tok.pad_token_id)
    if settings.do_sample:
        kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=0)
        torch.manual_seed(seed)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    with torch.no_grad():
        out = model.generate(**enc, **kwargs)
    new = out[:, enc["input_ids"].shape[1]:]
    return tok.batch_decode(new, skip_special_tokens=True)
