"""The ``repetition`` reward source: penalises completions that repeat the same word n-grams."""

from __future__ import annotations

import re
from typing import Any

import rlit
from rlit.errors import ConfigError

_WORD = re.compile(r"\w+")


def distinct_ngram_share(text: str, n: int) -> float:
    """Distinct word n-grams / all word n-grams (case-insensitive); 1.0 when there are none."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


class RepetitionSource(rlit.RewardSource):
    """1 - the fraction of repeated word n-grams: 1.0 for text that never repeats an n-gram,
    near 0 for a loop ("the cat the cat the cat ..."). Texts shorter than n words score 1.0
    (nothing can repeat); pair it with ``length`` to reward non-empty answers."""

    name = "repetition"
    description = "1 - fraction of repeated word n-grams (distinct n-grams / all n-grams)"
    higher_is_better = True

    def __init__(self, n: int = 3):
        """n: n-gram size in words (>= 1)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"repetition: option 'n' must be a positive integer, got {n!r}")
        self.n = n

    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        return [distinct_ngram_share(c, self.n) for c in completions]
