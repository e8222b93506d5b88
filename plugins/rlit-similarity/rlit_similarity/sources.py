"""The ``similarity`` and ``relevance`` reward sources: cosine similarity of sentence embeddings.

- ``similarity``: completion vs. the row's reference (column ``reference`` by default; a list of
  references scores against the closest one). No reference on a row -> None (not applicable).
- ``relevance``: completion vs. its prompt.

Both give a cosine in [-1, 1] (MiniLM rarely goes below 0). An empty or blank completion scores
0.0: it says nothing, so it is neither similar nor relevant (and None would hide it from a gate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlit.errors import SourceError
from rlit.rewards.source import RewardSource
from rlit_similarity.embedder import DEFAULT_MODEL, get_embedder


class _EmbeddingSource(RewardSource):
    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None, batch_size: int = 64, cache_size: int = 50_000):
        self.embedder = get_embedder(model, device, cache_size)
        self.batch_size = batch_size

    def cosines(self, left: list[str], right: list[str]) -> list[float]:
        """Row-wise cosine of two equally long text lists, embedded in one batch."""
        if not left:
            return []
        vectors = self.embedder.embed(left + right, self.batch_size)
        n = len(left)
        return [float(x) for x in np.einsum("ij,ij->i", vectors[:n], vectors[n:])]


class SimilaritySource(_EmbeddingSource):
    name = "similarity"
    description = "Cosine similarity of the completion to the row's reference text (sentence embeddings, offline MiniLM by default)"
    higher_is_better = True

    def __init__(self, reference_column: str = "reference", model: str = DEFAULT_MODEL, device: str | None = None, batch_size: int = 64, cache_size: int = 50_000):
        """``reference_column``: the column with each row's reference (a string or a list of them);
        ``model``: "minilm" (offline all-MiniLM-L6-v2), a local sentence-transformers folder or a
        hub id; ``device``: e.g. "cpu", "cuda" (default: what sentence-transformers picks);
        ``batch_size``: texts per encoder batch; ``cache_size``: embeddings kept for repeated texts."""
        super().__init__(model, device, batch_size, cache_size)
        self.reference_column = reference_column

    def score(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[float | None]:
        references = self._references(columns, len(completions))
        pairs = [(i, c, r) for i, (c, refs) in enumerate(zip(completions, references)) for r in refs if c.strip()]
        sims = self.cosines([c for _, c, _ in pairs], [r for _, _, r in pairs])
        best: dict[int, float] = {}
        for (i, _, _), s in zip(pairs, sims):
            best[i] = max(best.get(i, -1.0), s)
        return [None if not refs else (best[i] if c.strip() else 0.0) for i, (c, refs) in enumerate(zip(completions, references))]

    def _references(self, columns: dict[str, list[Any]], n: int) -> list[list[str]]:
        if self.reference_column not in columns:
            raise SourceError(self.name, f"needs a {self.reference_column!r} column with each row's reference text (option reference_column); columns given: {', '.join(sorted(columns)) or 'none'}")
        values = list(columns[self.reference_column])
        if len(values) != n:
            raise SourceError(self.name, f"column {self.reference_column!r} has {len(values)} values for {n} completions")
        return [_texts(v, self.reference_column, row, self.name) for row, v in enumerate(values)]


class RelevanceSource(_EmbeddingSource):
    name = "relevance"
    description = "Cosine similarity of the completion to its prompt (sentence embeddings, offline MiniLM by default)"
    higher_is_better = True

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None, batch_size: int = 64, cache_size: int = 50_000):
        """``model``: "minilm" (offline all-MiniLM-L6-v2), a local sentence-transformers folder or
        a hub id; ``device``: e.g. "cpu", "cuda"; ``batch_size``: texts per encoder batch;
        ``cache_size``: embeddings kept for repeated texts (a prompt with many samples)."""
        super().__init__(model, device, batch_size, cache_size)

    def score(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[float | None]:
        if len(prompts) != len(completions):
            raise SourceError(self.name, f"{len(prompts)} prompts for {len(completions)} completions")
        rows = [i for i, (p, c) in enumerate(zip(prompts, completions)) if p.strip() and c.strip()]
        sims = dict(zip(rows, self.cosines([completions[i] for i in rows], [prompts[i] for i in rows])))
        return [None if not p.strip() else sims.get(i, 0.0) for i, p in enumerate(prompts)]


def _texts(value: Any, column: str, row: int, source: str) -> list[str]:
    """A reference cell as a list of non-empty texts (None or "" -> no reference)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    raise SourceError(source, f"row {row}: column {column!r} holds {type(value).__name__}; expected a string or a list of strings")
