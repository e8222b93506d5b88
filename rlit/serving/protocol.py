"""The wire formats of ``rlit serve``: typed request bodies, the server's settings, and the two
mappings every engine adapter shares (an engine's label to rlit columns, OpenRLHF's query to a
completion). Requests are validated here, so a bad one is a 4xx naming the field, never a crash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rlit.errors import ConfigError
from rlit.rewards.trl import as_text, prompt_text

# What OpenRLHF's query ends with when decoded with skip_special_tokens=False: EOS / end-of-turn /
# pad tokens of common tokenizers. Stripped (repeatedly) from the end of the completion.
DEFAULT_STRIP_SUFFIXES = ("<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|end|>", "<pad>", "<|pad|>")


@dataclass
class ServeSettings:
    """How the server batches, bounds and maps requests (the CLI's options, in one place)."""

    max_batch_rows: int = 256  # rows merged into one composite call
    max_wait_ms: float = 2.0  # how long the scorer waits for more requests to fill a batch (at least)
    wait_fraction: float = 0.25  # ...or up to this fraction of the last composite call's time, for callers it just answered
    max_request_rows: int = 1024  # rows (or queries) in one request
    max_request_bytes: int = 8 * 1024 * 1024  # request body size
    token: str | None = None  # bearer token; None = no authentication (loopback only)
    label_column: str = "label"  # the column OpenRLHF's `labels` become (an object label gives several)
    strip_suffixes: tuple[str, ...] = DEFAULT_STRIP_SUFFIXES
    unscored_reward: float | None = None  # /get_reward: sent instead of null for a row no source scored

    def __post_init__(self) -> None:
        for key in ("max_batch_rows", "max_request_rows", "max_request_bytes"):
            if getattr(self, key) < 1:
                raise ConfigError(f"serve: {key.replace('_', '-')} must be at least 1, got {getattr(self, key)}")
        if not (math.isfinite(self.max_wait_ms) and self.max_wait_ms >= 0):
            raise ConfigError(f"serve: max-wait-ms must be a finite number >= 0, got {self.max_wait_ms}")
        if not (math.isfinite(self.wait_fraction) and 0 <= self.wait_fraction <= 1):
            raise ConfigError(f"serve: wait-fraction must be between 0 and 1, got {self.wait_fraction}")
        if self.unscored_reward is not None and not math.isfinite(self.unscored_reward):
            raise ConfigError(f"serve: unscored-reward must be a finite number, got {self.unscored_reward}")
        if self.token is not None and not self.token.strip():
            raise ConfigError("serve: --token is empty; give a secret string (or leave it out on a loopback host)")


class ScoreRow(BaseModel):
    """One rlit row: ``prompt`` and ``completion`` (text or TRL-style messages) plus any columns."""

    model_config = ConfigDict(extra="allow")

    prompt: str | list[dict[str, Any]] = ""
    completion: str | list[dict[str, Any]]


class ScoreRequest(BaseModel):
    """``POST /score``: ``{"rows": [{"prompt": ..., "completion": ..., <column>: ...}, ...]}``."""

    model_config = ConfigDict(extra="forbid")

    rows: list[ScoreRow] = Field(min_length=1)


class GetRewardRequest(BaseModel):
    """``POST /get_reward``, OpenRLHF's remote reward protocol (``openrlhf/utils/agent.py``)."""

    model_config = ConfigDict(extra="forbid")

    query: list[str] = Field(min_length=1)  # prompt + response, decoded with special tokens
    prompts: list[str] | None = None
    labels: list[Any] | None = None


class RequestError(Exception):
    """A request the server refuses: HTTP status, a one-line message, and the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field}


def parse_body(model: type[BaseModel], body: bytes) -> Any:
    """Validate a JSON body; errors become a 400 (not JSON) or 422 naming the first bad field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        if first["type"] == "json_invalid":
            raise RequestError(400, f"body is not valid JSON: {first['msg']}") from None
        where = _loc(first["loc"])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        msg = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise RequestError(422, f"{where or 'body'}: {msg}{more}", where or None) from None


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def _loc(loc: tuple) -> str:
    out = ""
    for item in loc:
        if isinstance(item, str) and (item in _TYPE_TAGS or "[" in item):
            break  # pydantic names the union member tried ("str", "list[...]"): not a field

        out += f"[{item}]" if isinstance(item, int) else (f".{item}" if out else str(item))
    return out


def label_columns(label: Any, column: str) -> dict[str, Any]:
    """An engine's per-row label as rlit columns: a JSON object gives one column per key, anything
    else the one configured ``column``. OpenRLHF's ``labels`` and verl's ``ground_truth`` both
    come through here."""
    if isinstance(label, dict):
        return {str(k): v for k, v in label.items()}
    return {column: label}


def completion_from_query(query: str, prompt: str | None, suffixes: tuple[str, ...]) -> str:
    """OpenRLHF's ``query`` (prompt + response, special tokens kept) minus the prompt prefix and
    trailing EOS/pad tokens. A query that does not start with its prompt raises ``ValueError``:
    guessing where the response starts would score the wrong text."""
    text = query
    if prompt:
        if not query.startswith(prompt):
            raise ValueError("does not start with its prompt (prompts[i]); send the prompt exactly as it was decoded")
        text = query[len(prompt):]
    stripped = True
    while stripped:  # several EOS/pad tokens may follow each other
        stripped = False
        for s in suffixes:
            if s and text.endswith(s):
                text, stripped = text[: -len(s)], True
    return text


@dataclass
class Rows:
    """A request as the composite takes it: texts plus column lists, one entry per row."""

    prompts: list[str]
    completions: list[str]
    columns: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.completions)


def rows_from_dicts(rows: list[dict[str, Any]]) -> Rows:
    """Rows with differing columns: a row without a column gives None there (as ``rlit score``)."""
    names = sorted({k for r in rows for k in r} - {"prompt", "completion"})
    columns = {k: [r.get(k) for r in rows] for k in names}
    return Rows([prompt_text(r.get("prompt", "")) for r in rows], [as_text(r["completion"]) for r in rows], columns)


def merge_rows(parts: list[Rows]) -> Rows:
    """Several requests as one batch; a column some requests lack is None for their rows."""
    names = sorted({k for p in parts for k in p.columns})
    merged = Rows([], [], {k: [] for k in names})
    for p in parts:
        merged.prompts += p.prompts
        merged.completions += p.completions
        for k in names:
            merged.columns[k] += p.columns.get(k, [None] * len(p))
    return merged

