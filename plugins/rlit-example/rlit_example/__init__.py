"""An example rlit plugin: one reward source, registered through one hook.

Copy this package to start your own; docs/plugin-guide.md walks through every line.
"""

from __future__ import annotations

import rlit


class Lowercase(rlit.RewardSource):
    """Fraction of letters that are lowercase: 1.0 for calm text, 0.0 for ALL CAPS."""

    name = "example-lowercase"  # unique across all installed plugins
    description = "Fraction of letters that are lowercase (penalises SHOUTING)"
    higher_is_better = True

    def __init__(self, min_letters: int = 1):  # options come from the config file as keywords
        if min_letters < 1:
            raise ValueError(f"min_letters must be at least 1, got {min_letters}")
        self.min_letters = min_letters

    def score(self, prompts: list[str], completions: list[str], **columns) -> list[float | None]:
        scores: list[float | None] = []
        for text in completions:
            letters = [c for c in text if c.isalpha()]
            if len(letters) < self.min_letters:
                scores.append(None)  # None = not applicable: too few letters to judge
            else:
                scores.append(sum(c.islower() for c in letters) / len(letters))
        return scores

    def details(self, prompts: list[str], completions: list[str], **columns) -> list[dict]:
        return [{"letters": sum(c.isalpha() for c in text)} for text in completions]


@rlit.hookimpl
def register_rewards(register):
    register(Lowercase)
