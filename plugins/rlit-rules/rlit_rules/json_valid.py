"""The ``json-valid`` reward source: the completion is JSON (optionally in a ``` fence)."""

from __future__ import annotations

import json
import re
from typing import Any

import rlit
from rlit.errors import ConfigError

# A whole completion that is one fenced block: ```json ... ``` (language tag optional).
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n?(.*?)\n?```\Z", re.DOTALL)


def parse_json(text: str, allow_fences: bool) -> tuple[bool, Any]:
    """(parsed, value) for the completion, after stripping whitespace and, if allowed, a fence."""
    body = text.strip()
    match = _FENCE.match(body) if allow_fences else None
    if match:
        body = match.group(1).strip()
    try:
        return True, json.loads(body)
    except ValueError:
        return False, None


class JsonValidSource(rlit.RewardSource):
    """1.0 if the completion parses as JSON (whole completion, or one ```-fenced block when
    ``allow_fences``) and, when ``required_keys`` are given, is an object with all of them;
    otherwise 0.0."""

    name = "json-valid"
    description = "1 if the completion is valid JSON (optionally fenced) with the required keys, else 0"
    higher_is_better = True

    def __init__(self, allow_fences: bool = True, required_keys: list[str] | None = None):
        """allow_fences: accept one ```json fenced block. required_keys: top-level keys the JSON
        object must have."""
        keys = list(required_keys or [])
        if not all(isinstance(k, str) for k in keys):
            raise ConfigError(f"json-valid: option 'required_keys' must be a list of strings, got {required_keys!r}")
        self.allow_fences = bool(allow_fences)
        self.required_keys = keys

    def score(self, prompts: list[str], completions: list[str], **columns: Any) -> list[float | None]:
        return [1.0 if self._ok(c) else 0.0 for c in completions]

    def _ok(self, text: str) -> bool:
        parsed, value = parse_json(text, self.allow_fences)
        if not parsed:
            return False
        if self.required_keys:
            return isinstance(value, dict) and all(k in value for k in self.required_keys)
        return True
