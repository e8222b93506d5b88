"""TRL's reward-function convention, adapted in one place: ``fn(prompts, completions, **kwargs)
-> list[float | None]``, named by ``__name__``, optionally ``async``.

TRL passes prompts and completions as text or as conversations, every dataset column as a keyword
list, and a few keywords of its own (``TRL_EXTRA_KEYWORDS``). ``TRLRewardFunction`` turns such a
call into a composite's ``score_batch`` (or one of its sources' raw scores) and its result back
into TRL's form; a ``RewardSource`` instance, a ``CompositeReward`` and each of
``CompositeReward.reward_funcs()`` are all this one adapter.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rlit.rewards.batch import optional

# Keywords TRL passes to reward functions that are not dataset columns.
TRL_EXTRA_KEYWORDS = frozenset({"trainer_state", "log_metric", "log_extra", "completion_ids", "prompt_ids", "environments"})


def as_text(item: Any) -> str:
    """Text of a TRL completion or prompt: a plain string, or a conversation (list of messages).

    For a completion TRL passes ``[{"role": "assistant", "content": ...}]``; for a conversational
    prompt, the whole message list. We take the assistant's text, else the last message's.
    """
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return _content_text(item.get("content", ""))
    if isinstance(item, (list, tuple)):
        if not item:
            return ""
        assistant = [m for m in item if isinstance(m, dict) and m.get("role") == "assistant"]
        chosen = assistant if assistant else [item[-1]]
        return "".join(_content_text(m.get("content", "")) if isinstance(m, dict) else str(m) for m in chosen)
    return str(item)


def prompt_text(item: Any) -> str:
    """Text of a TRL prompt: a plain string, or the last user message of a conversation (the
    instruction being answered; earlier turns and the system prompt are context, not the ask)."""
    if isinstance(item, (list, tuple)) and item:
        users = [m for m in item if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return _content_text(users[-1].get("content", ""))
        last = item[-1]
        return _content_text(last.get("content", "")) if isinstance(last, dict) else str(last)
    return as_text(item)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal content parts: keep the text parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


class TRLRewardFunction:
    """A composite as a TRL reward function: the total per row, or with ``source`` that source's
    raw scores (going through the composite's guarded call, cache and failure policy; TRL does
    the weighting then, so normalisation, vetoes and clip do not apply). ``json_columns`` are
    decoded from JSON text first (nested columns travel through Arrow that way). Each source's
    mean and share go to TRL's ``log_metric`` when it offers one. Picklable with its composite."""

    def __init__(self, composite: Any, source: str | None = None, name: str | None = None, json_columns: frozenset[str] = frozenset()):
        self.composite = composite
        self.source = source
        self.name = name or source or "rlit-composite"
        self.json_columns = frozenset(json_columns)

    @property
    def __name__(self) -> str:  # TRL's get_callable_name reads this (its log key: rewards/<name>/mean)
        return self.name

    def __call__(self, prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any) -> list[float | None]:
        texts = [as_text(c) for c in (completions or [])]
        ptexts = [prompt_text(p) for p in prompts] if prompts is not None else [""] * len(texts)
        columns = {k: v for k, v in kwargs.items() if k not in TRL_EXTRA_KEYWORDS}
        for key in self.json_columns & columns.keys():
            columns[key] = [json.loads(v) for v in columns[key]]
        if self.source is not None:
            return optional(self.composite.raw_scores(self.source, ptexts, texts, **columns))
        batch = self.composite.score_batch(ptexts, texts, **columns)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for name, st in batch.stats.items():
                for key in ("mean", "share"):
                    if st[key] is not None:
                        log_metric(f"rlit/{name}/{key}", st[key])
        return batch.rewards()

    def as_async(self) -> "AsyncRewardFunction":
        return AsyncRewardFunction(self)


class AsyncRewardFunction:
    """A synchronous reward function (a source, a composite, or one of its ``reward_funcs()``)
    with an ``async __call__``: TRL gathers async reward functions concurrently, and this runs
    the wrapped call in a worker thread meanwhile. Keeps the wrapped function's ``__name__`` (TRL's
    log key) and pickles as the wrapped object does."""

    def __init__(self, fn: Any):
        self.fn = fn

    @property
    def __name__(self) -> str:
        return getattr(self.fn, "__name__", type(self.fn).__name__)

    async def __call__(self, *args: Any, **kwargs: Any) -> list[float | None]:
        return await asyncio.to_thread(self.fn, *args, **kwargs)
