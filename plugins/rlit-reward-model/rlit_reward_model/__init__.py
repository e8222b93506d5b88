"""rlit-reward-model: the ``reward-model`` reward source (a learned reward model).

It scores prompt + completion with
- any one-label sequence classifier (``AutoModelForSequenceClassification``) from a local folder or
  a hub id, with ITS OWN tokenizer (policy and reward model may tokenize differently); or
- a folder written by ``rlit train reward-model`` (either kind), detected by its
  ``rlit-reward-model.json`` manifest, which fixes the text format the model was trained on.
  The folder format (manifest, text format, loading, scoring) is rlit's public
  ``rlit.lm.reward_model`` and ``rlit.lm.minilm``, which training writes with.

Text format: the tokenizer's chat template (user = prompt, assistant = completion) when
``chat_template`` says so (``auto``: when the tokenizer has one and the folder has no rlit
manifest), else ``prompt + separator + completion`` (the completion alone when the prompt is
empty) with the tokenizer's EOS appended, as TRL's RewardTrainer trains. Texts over ``max_length``
tokens are truncated from ``truncation_side`` (default left: the end of the completion is kept).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import rlit
from rlit.errors import ConfigError
from rlit.lm.minilm import MiniLMRewardModel
from rlit.lm.reward_model import format_texts, load_sequence_classifier, read_manifest, score_ids, tokenize


class RewardModelSource(rlit.RewardSource):
    name = "reward-model"
    description = "Learned reward model: a one-label sequence classifier (folder or hub id) or a folder from `rlit train reward-model`"
    higher_is_better = True

    def __init__(
        self,
        model: str,
        batch_size: int = 16,
        max_length: int | None = None,
        truncation_side: Literal["left", "right"] = "left",
        chat_template: Literal["auto", "always", "never"] = "auto",
        separator: str | None = None,
        output: Literal["logit", "sigmoid"] = "logit",
        device: str = "cpu",
        dtype: Literal["float32", "bfloat16", "float16"] = "float32",
    ):
        if truncation_side not in ("left", "right"):
            raise ConfigError(f"reward-model: option 'truncation_side' must be 'left' or 'right', got {truncation_side!r}")
        if chat_template not in ("auto", "always", "never"):
            raise ConfigError(f"reward-model: option 'chat_template' must be auto, always or never, got {chat_template!r}")
        if output not in ("logit", "sigmoid"):
            raise ConfigError(f"reward-model: option 'output' must be 'logit' or 'sigmoid', got {output!r}")
        self.model_name = model
        self.batch_size = batch_size
        self.output = output
        self.truncation_side = truncation_side
        self.manifest = read_manifest(model) if Path(model).is_dir() else None
        manifest = self.manifest or {}
        self.kind = manifest.get("kind", "transformer")
        self.separator = separator if separator is not None else manifest.get("separator", "\n\n")
        if self.kind == "minilm":
            self.minilm = MiniLMRewardModel.load(model, manifest, device)
            self.minilm.separator = self.separator
            self.minilm.embedder.tokenizer.truncation_side = truncation_side
            if max_length:
                self.minilm.embedder.max_seq_length = max_length
            return
        self._load_classifier(model, manifest, max_length, chat_template, device, dtype)

    def _load_classifier(self, model: str, manifest: dict, max_length: int | None, chat_template: str, device: str, dtype: str) -> None:
        self.model, self.tok = load_sequence_classifier(model, dtype, device)
        self.model.eval()
        has_template = bool(getattr(self.tok, "chat_template", None))
        if chat_template == "always" and not has_template:
            raise ConfigError(f"reward-model: chat_template = 'always' but the tokenizer of {model!r} has no chat template")
        # auto: what the rlit manifest recorded at training; for other models, the template if any.
        auto = bool(manifest.get("chat_template", False)) if self.manifest else has_template
        self.use_chat_template = chat_template == "always" or (chat_template == "auto" and auto)
        self.append_eos = bool(manifest.get("append_eos", True))
        self.max_length = max_length or manifest.get("max_length") or _model_max_length(self.model, self.tok)

    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        if self.kind == "minilm":
            raw = self.minilm.score(prompts, completions, self.batch_size)
        else:
            texts = format_texts(self.tok, prompts, completions, self.separator, self.use_chat_template, self.append_eos)
            ids = tokenize(self.tok, texts, self.max_length, self.use_chat_template, self.truncation_side).ids
            raw = score_ids(self.model, self.tok.pad_token_id, ids, self.batch_size)
        if self.output == "sigmoid":
            return [1.0 / (1.0 + math.exp(-x)) for x in raw]
        return list(raw)


def _model_max_length(model: Any, tok: Any) -> int:
    """The smaller of the tokenizer's limit and the model's position table (tokenizers often say 1e30)."""
    limits = [n for n in (getattr(tok, "model_max_length", None), getattr(model.config, "max_position_embeddings", None), getattr(model.config, "n_positions", None)) if isinstance(n, int) and 0 < n < 1_000_000]
    return min(limits) if limits else 512


@rlit.hookimpl
def register_rewards(register):
    register(RewardModelSource)
