"""The reward-source contract that plugins implement (see docs/plugin-guide.md)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

# Keywords TRL passes to reward functions that are not dataset columns.
TRL_EXTRA_KEYWORDS = frozenset({"trainer_state", "log_metric", "log_extra", "completion_ids", "prompt_ids", "environments"})


@dataclass(frozen=True)
class OptionInfo:
    """One constructor keyword of a reward source, as `rlit rewards` lists it."""

    name: str
    type: str
    default: Any
    required: bool


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


class Unscorable:
    """What ``score`` returns for a row it cannot score, with the reason (one line), instead of a
    number or None: that row gets no score from this source, the rest of the batch is unaffected,
    and the reason is counted in summaries and written to ``rlit score``'s output rows.

    ``None`` means "not applicable" (no instructions to check); ``Unscorable`` means "this row is
    broken for me" (bad kwargs, unparseable reference) and says why.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        text = str(reason).strip()
        self.reason = text.splitlines()[0] if text else "unscorable"

    def __repr__(self) -> str:
        return f"Unscorable({self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unscorable) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(("Unscorable", self.reason))


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
        import asyncio

        return await asyncio.to_thread(self.fn, *args, **kwargs)


class RewardSource:
    """Base class of every reward source.

    Subclasses set ``name`` (unique across installed plugins), ``description`` and
    ``higher_is_better``, take their options as constructor keywords, and implement ``score``.
    An instance is also a TRL reward function: ``GRPOTrainer(reward_funcs=[source])`` works.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    # Dataset columns every row must have for this source (checked by `rlit score`); optional.
    columns: ClassVar[tuple[str, ...]] = ()

    def score(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[float | None | Unscorable]:
        """One value per completion; ``None`` means "not applicable to this row", and
        ``rlit.Unscorable("reason")`` means "this row cannot be scored, because ..."."""
        raise NotImplementedError(f"{type(self).__name__}.score is not implemented")

    def details(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[dict[str, Any]]:
        """Optional per-row detail for reports (e.g. per-instruction verdicts). Default: none."""
        return [{} for _ in completions]

    def __call__(self, prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any) -> list[float | None]:
        completions = list(completions or [])
        prompts = list(prompts) if prompts is not None else [""] * len(completions)
        columns = {k: v for k, v in kwargs.items() if k not in TRL_EXTRA_KEYWORDS}
        return self.score([prompt_text(p) for p in prompts], [as_text(c) for c in completions], **columns)

    @property
    def __name__(self) -> str:  # TRL logs reward functions by __name__
        return self.name or type(self).__name__

    def as_async(self) -> "AsyncRewardFunction":
        """This source as an ``async`` TRL reward function (scored in a worker thread, so TRL
        runs it concurrently with its other async reward functions)."""
        return AsyncRewardFunction(self)

    @classmethod
    def options(cls) -> list[OptionInfo]:
        """The constructor keywords users may set in a config's ``options`` table."""
        out = []
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            ann = p.annotation
            type_name = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann).replace("typing.", ""))
            if ann is inspect.Parameter.empty:
                type_name = type(p.default).__name__ if p.default is not inspect.Parameter.empty else "any"
            required = p.default is inspect.Parameter.empty
            out.append(OptionInfo(p.name, str(type_name), None if required else p.default, required))
        return out
