"""rlit-similarity: reward sources from sentence embeddings (offline MiniLM by default).

- ``similarity``: cosine of the completion to a reference column;
- ``relevance``: cosine of the completion to its prompt.
"""

from __future__ import annotations

import rlit
from rlit_similarity.embedder import Embedder, get_embedder
from rlit_similarity.sources import RelevanceSource, SimilaritySource

__all__ = ["Embedder", "RelevanceSource", "SimilaritySource", "get_embedder"]


@rlit.hookimpl
def register_rewards(register):
    register(SimilaritySource)
    register(RelevanceSource)
