"""Training prompts: JSONL rows, read once, served in a seeded shuffled order whose position is checkpointed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlit.jsonl import read_rows


def read_prompt_rows(path: str | Path, prompt_column: str = "prompt") -> list[dict[str, Any]]:
    """Rows of a prompts JSONL; each must have a string ``prompt_column``. Errors name file:line."""
    return read_rows(path, (prompt_column,), what="prompt rows")


class PromptStream:
    """Endless batches over ``rows``: pass ``e`` uses permutation ``randperm(n, seed + e)``.

    The whole state is one integer (``position``: rows served so far), so a resumed run serves
    exactly the rows the uninterrupted run would have.
    """

    def __init__(self, rows: list[dict[str, Any]], seed: int, shuffle: bool = True, position: int = 0):
        self.rows = rows
        self.seed = seed
        self.shuffle = shuffle
        self.position = position
        self._orders: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._orders:
            import torch

            n = len(self.rows)
            if self.shuffle:
                gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
                self._orders = {epoch: torch.randperm(n, generator=gen).tolist()}
            else:
                self._orders = {epoch: list(range(n))}
        return self._orders[epoch]

    def next_batch(self, size: int, rank: int = 0, world: int = 1) -> list[dict[str, Any]]:
        """The next ``size`` rows for process ``rank`` of ``world`` (each process gets its own rows)."""
        total = size * world
        picked = []
        for i in range(self.position, self.position + total):
            epoch, idx = divmod(i, len(self.rows))
            picked.append(self.rows[self._order(epoch)[idx]])
        self.position += total
        return picked[rank::world]

    def columns(self, batch: list[dict[str, Any]], prompt_column: str) -> dict[str, list[Any]]:
        """Every column but the prompt, as lists (what reward sources receive as keywords)."""
        keys = sorted({k for row in batch for k in row} - {prompt_column})
        return {k: [row.get(k) for row in batch] for k in keys}
