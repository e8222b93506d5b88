"""The ``regex`` reward source: patterns a completion must match and must not match."""

from __future__ import annotations

import re
from typing import Any

import rlit
from rlit.errors import ConfigError

REWARDS = ("all", "fraction")


def _compile(option: str, patterns: list[str] | str | None, flags: int) -> list[re.Pattern]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    compiled = []
    for i, pattern in enumerate(patterns):
        if not isinstance(pattern, str):
            raise ConfigError(f"regex: option '{option}[{i}]' must be a string, got {pattern!r}")
        try:
            compiled.append(re.compile(pattern, flags))
        except re.error as exc:
            raise ConfigError(f"regex: option '{option}[{i}]' is not a valid regular expression ({exc}): {pattern!r}") from None
    return compiled


class RegexSource(rlit.RewardSource):
    """Each ``must`` pattern should be found in the completion and no ``must_not`` pattern
    should be (``re.search``). reward ``all``: 1.0 if every check passes, else 0.0;
    ``fraction``: the share of checks that pass."""

    name = "regex"
    description = "must / must_not regular expressions: all pass (0/1) or fraction passing"
    higher_is_better = True

    def __init__(self, must: list[str] | str | None = None, must_not: list[str] | str | None = None,
                 ignore_case: bool = False, multiline: bool = False, reward: str = "all"):
        """must / must_not: patterns (Python re syntax) searched in the completion. ignore_case,
        multiline: re.IGNORECASE / re.MULTILINE. reward: all | fraction."""
        flags = (re.IGNORECASE if ignore_case else 0) | (re.MULTILINE if multiline else 0)
        self.must = _compile("must", must, flags)
        self.must_not = _compile("must_not", must_not, flags)
        if not self.must and not self.must_not:
            raise ConfigError("regex: set option 'must', 'must_not' or both")
        if reward not in REWARDS:
            raise ConfigError(f"regex: option 'reward' must be one of {', '.join(REWARDS)}, got {reward!r}")
        self.reward = reward

    def checks(self, text: str) -> list[bool]:
        """One pass/fail per pattern: must patterns first, then must_not."""
        return [bool(p.search(text)) for p in self.must] + [not p.search(text) for p in self.must_not]

    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        out: list[float | None] = []
        for c in completions:
            passed = self.checks(c)
            out.append(float(all(passed)) if self.reward == "all" else sum(passed) / len(passed))
        return out

    def details(self, prompts: list[str], completions: list[str], **columns: Any) -> list[dict[str, Any]]:
        names = [f"must:{p.pattern}" for p in self.must] + [f"must_not:{p.pattern}" for p in self.must_not]
        return [dict(zip(names, self.checks(c))) for c in completions]
