"""The ``length`` reward source: a completion's length within bounds, in words or characters."""

from __future__ import annotations

import re
from typing import Any

import rlit
from rlit.errors import ConfigError

UNITS = ("words", "chars")
OUTSIDE = ("ratio", "zero")
_WORD = re.compile(r"\S+")


def text_length(text: str, unit: str) -> int:
    """Words (whitespace-separated) or characters of ``text``."""
    return len(_WORD.findall(text)) if unit == "words" else len(text)


class LengthSource(rlit.RewardSource):
    """1.0 when the completion's length is within [min, max]. Outside, ``outside="ratio"``
    (default) gives a graded reward that still points the right way: length/min below the
    minimum, max/length above the maximum; ``outside="zero"`` gives 0."""

    name = "length"
    description = "1 when min <= length <= max (words or chars); outside, length/min or max/length (or 0)"
    higher_is_better = True

    def __init__(self, min: int | None = None, max: int | None = None, unit: str = "words", outside: str = "ratio"):
        """min / max: inclusive bounds (at least one). unit: words | chars. outside: ratio | zero."""
        for key, value in (("min", min), ("max", max)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(f"length: option {key!r} must be a non-negative integer, got {value!r}")
        if min is None and max is None:
            raise ConfigError("length: set option 'min', 'max' or both")
        if min is not None and max is not None and min > max:
            raise ConfigError(f"length: option 'min' ({min}) is greater than 'max' ({max})")
        if unit not in UNITS:
            raise ConfigError(f"length: option 'unit' must be one of {', '.join(UNITS)}, got {unit!r}")
        if outside not in OUTSIDE:
            raise ConfigError(f"length: option 'outside' must be one of {', '.join(OUTSIDE)}, got {outside!r}")
        self.min, self.max, self.unit, self.outside = min, max, unit, outside

    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        return [self._score(text_length(c, self.unit)) for c in completions]

    def _score(self, n: int) -> float:
        if self.min is not None and n < self.min:
            return n / self.min if self.outside == "ratio" else 0.0
        if self.max is not None and n > self.max:
            return self.max / n if self.outside == "ratio" else 0.0
        return 1.0

    def details(self, prompts: list[str], completions: list[str], **columns: Any) -> list[dict[str, Any]]:
        return [{self.unit: text_length(c, self.unit)} for c in completions]
