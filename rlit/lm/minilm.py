"""The ``minilm`` reward-model folder: frozen MiniLM sentence embeddings plus a Bradley–Terry head.

A text is embedded once (sentence-transformers, mean pooling, normalised); the head maps the
embedding to a scalar reward r(x). The folder holds the head (``bt-head.safetensors``), its shape
(``bt-head.json``) and the manifest (rlit.lm.reward_model); the embedder is referenced by name.
Texts longer than the embedder's maximum are truncated from the LEFT, so the end of the text,
where the completion is, is what gets embedded. Training the head: rlit/training/minilm_bt.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlit.atomic import write_bytes, write_text
from rlit.errors import ConfigError
from rlit.lm.reward_model import DEFAULT_SEPARATOR, MINILM, join_text, minilm_path

HEAD_FILE = "bt-head.safetensors"
HEAD_CONFIG = "bt-head.json"
FEATURES = ("text", "completion", "completion+prompt")


def load_embedder(name: str = MINILM, device: str | None = "cpu", max_seq_length: int | None = None, truncation_side: str = "left") -> Any:
    """A SentenceTransformer for ``builtin:all-minilm-l6-v2`` (offline package), a folder or a hub id."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_path() if name == MINILM else name, device=device)
    if max_seq_length:
        model.max_seq_length = max_seq_length
    model.tokenizer.truncation_side = truncation_side
    return model


def embed(embedder: Any, texts: list[str], batch_size: int = 64, progress: bool = False) -> Any:
    """Normalised embeddings, a float32 tensor of shape (len(texts), dim)."""
    emb = embedder.encode(texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=progress)
    return emb.float().cpu().clone()  # encode runs under inference_mode; a clone can enter autograd


@dataclass
class HeadConfig:
    """The head's shape and what it reads (saved as bt-head.json).

    features: ``text`` = embedding of prompt + separator + completion; ``completion`` = embedding
    of the completion alone; ``completion+prompt`` = [e(completion), e(prompt) * e(completion)],
    so the head can weigh the answer by what was asked without the prompt crowding it out of the
    embedder's window.
    """

    head: str = "linear"  # linear | mlp
    dim: int = 384  # of the embedder; the head's input is 2 * dim for completion+prompt
    hidden: int = 256
    features: str = "text"

    def build(self) -> Any:
        from torch import nn

        if self.features not in FEATURES:
            raise ConfigError(f"features must be one of {', '.join(FEATURES)}, got {self.features!r}")
        width = self.dim * (2 if self.features == "completion+prompt" else 1)
        if self.head == "linear":
            return nn.Linear(width, 1)
        if self.head == "mlp":
            return nn.Sequential(nn.Linear(width, self.hidden), nn.GELU(), nn.Linear(self.hidden, 1))
        raise ConfigError(f"head must be 'linear' or 'mlp', got {self.head!r}")


class MiniLMRewardModel:
    """Embedder + head: ``score(prompts, completions)`` gives one reward per row."""

    def __init__(self, embedder: Any, head: Any, embedding_model: str, head_config: HeadConfig, separator: str = DEFAULT_SEPARATOR):
        self.embedder = embedder
        self.head = head
        self.embedding_model = embedding_model
        self.head_config = head_config
        self.separator = separator

    def texts(self, prompts: list[str], completions: list[str]) -> list[str]:
        return [join_text(p, c, self.separator) for p, c in zip(prompts, completions)]

    def features(self, prompts: list[str], completions: list[str], batch_size: int = 64, progress: bool = False) -> Any:
        """The head's input for each row, per ``head_config.features``."""
        import torch

        kind = self.head_config.features
        if kind == "text":
            return embed(self.embedder, self.texts(prompts, completions), batch_size, progress)
        ec = embed(self.embedder, completions, batch_size, progress)
        if kind == "completion":
            return ec
        unique = list(dict.fromkeys(prompts))  # prompts repeat (pairs, samples): embed each once
        ep = embed(self.embedder, unique, batch_size, progress)
        index = {p: i for i, p in enumerate(unique)}
        ep = ep[[index[p] for p in prompts]]
        return torch.cat([ec, ep * ec], dim=1)

    def score(self, prompts: list[str], completions: list[str], batch_size: int = 64) -> list[float]:
        import torch

        emb = self.features(prompts, completions, batch_size)
        with torch.no_grad():
            return self.head(emb).squeeze(-1).tolist()

    def save(self, folder: str | Path) -> None:
        """Write the head and its config; the embedder is referenced by name, not copied."""
        from safetensors.torch import save

        out = Path(folder)
        write_bytes(out / HEAD_FILE, save({k: v.contiguous() for k, v in self.head.state_dict().items()}))
        write_text(out / HEAD_CONFIG, json.dumps(vars(self.head_config)) + "\n")

    @classmethod
    def load(cls, folder: str | Path, manifest: dict[str, Any], device: str = "cpu") -> "MiniLMRewardModel":
        from safetensors.torch import load_file

        out = Path(folder)
        for name in (HEAD_FILE, HEAD_CONFIG):
            if not (out / name).is_file():
                raise ConfigError(f"{out}: minilm reward model is missing {name}")
        head_config = HeadConfig(**json.loads((out / HEAD_CONFIG).read_text(encoding="utf-8")))
        head = head_config.build()
        head.load_state_dict(load_file(str(out / HEAD_FILE)))
        embedder = load_embedder(manifest["base_model"], device, manifest.get("max_length"), manifest.get("truncation_side", "left"))
        return cls(embedder, head.eval(), manifest["base_model"], head_config, manifest.get("separator", DEFAULT_SEPARATOR))
