"""Training the light reward model's Bradley–Terry head (the folder format, embedder and scoring:
rlit/lm/minilm.py).

Training minimises -log sigmoid(r(chosen) - r(rejected)) over the preference pairs with
full-batch AdamW on frozen embeddings: seconds on CPU once the embeddings exist.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from tqdm.auto import tqdm

from rlit.lm.minilm import HeadConfig, MiniLMRewardModel, load_embedder
from rlit.lm.reward_model import write_manifest
from rlit.training.preference_data import Pair, pairwise_accuracy


def train_head(chosen: Any, rejected: Any, head_config: HeadConfig, epochs: int = 300, lr: float = 1e-2, weight_decay: float = 1e-2, seed: int = 0, progress: bool = True) -> Any:
    """Fit a Bradley–Terry head on (n, dim) chosen/rejected embeddings; returns the head in eval mode."""
    import torch
    from torch.nn.functional import logsigmoid

    torch.manual_seed(seed)
    head = head_config.build()
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    bar = tqdm(range(epochs), desc="Bradley-Terry head", disable=not progress)
    for _ in bar:
        opt.zero_grad()
        margin = head(chosen).squeeze(-1) - head(rejected).squeeze(-1)
        loss = -logsigmoid(margin).mean()
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}", acc=f"{(margin > 0).float().mean().item():.3f}")
    return head.eval()


def train_minilm(cfg: Any, train: list[Pair], held: list[Pair], data_hash: str, log: Callable[[str], None]) -> dict[str, Any]:
    """Train a minilm folder (``cfg``: a RewardModelConfig, whose module calls this one); returns its manifest."""
    embedder = load_embedder(cfg.base_model, "cpu" if cfg.device == "cpu" else None, cfg.max_length, "left")
    # sentence-transformers 6 renamed get_sentence_embedding_dimension; 5.x has only the old name.
    dim = (getattr(embedder, "get_embedding_dimension", None) or embedder.get_sentence_embedding_dimension)()
    head_config = HeadConfig(cfg.head, dim, cfg.hidden, cfg.features)
    rm = MiniLMRewardModel(embedder, None, cfg.base_model, head_config, cfg.separator)
    texts = rm.texts([p.prompt for p in train], [p.chosen for p in train]) + rm.texts([p.prompt for p in train], [p.rejected for p in train])
    lengths = [len(ids) for ids in embedder.tokenizer(texts if cfg.features == "text" else [p.chosen for p in train] + [p.rejected for p in train])["input_ids"]]
    truncated = sum(max(lengths[i], lengths[i + len(train)]) > cfg.max_length for i in range(len(train)))
    log(f"training pairs over max_length={cfg.max_length} word pieces: {truncated} of {len(train)} (truncated from the left)")
    log("embedding training pairs")
    emb = rm.features([p.prompt for p in train] * 2, [p.chosen for p in train] + [p.rejected for p in train], cfg.embed_batch_size, progress=True)
    head_start = time.perf_counter()
    rm.head = train_head(emb[: len(train)], emb[len(train):], head_config, cfg.head_epochs, cfg.head_lr, cfg.head_weight_decay, cfg.seed)
    head_seconds = time.perf_counter() - head_start
    log(f"Bradley-Terry head trained in {head_seconds:.1f} s")
    log("scoring held-out pairs")
    chosen = rm.score([p.prompt for p in held], [p.chosen for p in held], cfg.embed_batch_size)
    rejected = rm.score([p.prompt for p in held], [p.rejected for p in held], cfg.embed_batch_size)
    accuracy = pairwise_accuracy(chosen, rejected)
    rm.save(cfg.output_dir)
    manifest = {
        "kind": "minilm", "base_model": cfg.base_model, "accuracy": accuracy, "n_train": len(train), "n_eval": len(held),
        "data_hash": data_hash, "separator": cfg.separator, "max_length": cfg.max_length, "truncation_side": "left",
        "head": cfg.head, "features": cfg.features, "extract_prompt": cfg.extract_prompt, "truncated_for_length": truncated,
        "head_seconds": round(head_seconds, 2), "dropped_identical": getattr(cfg, "_dropped_identical", 0),
    }
    write_manifest(cfg.output_dir, manifest)
    return manifest
