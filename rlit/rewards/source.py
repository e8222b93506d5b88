"""The reward-source contract that plugins implement (see docs/plugin-guide.md)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar

from rlit.rewards.batch import Unscorable
from rlit.rewards.composite import CompositeReward
from rlit.rewards.trl import AsyncRewardFunction, TRLRewardFunction


@dataclass(frozen=True)
class OptionInfo:
    """One constructor keyword of a reward source, as `rlit rewards` lists it."""

    name: str
    type: str
    default: Any
    required: bool


@dataclass(frozen=True)
class Verdicts:
    """A source's declaration that its ``details()`` rows carry per-instruction verdicts, which
    evaluation aggregates (``prompt_level``, ``instruction_level``) without knowing the source.

    ``key``: the detail key holding one bool per instruction checked; ``ids``: the detail key
    (else the dataset column of that name) holding the instructions' ids, in the same order;
    ``group_separator``: an id's group, for the per-group breakdown, is the part before it.
    """

    key: str
    ids: str | None = None
    group_separator: str | None = None


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
    # Per-instruction verdicts in details(), for instruction-level aggregation; optional.
    verdicts: ClassVar[Verdicts | None] = None

    def score(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[float | None | Unscorable]:
        """One value per completion; ``None`` means "not applicable to this row", and
        ``rlit.Unscorable("reason")`` means "this row cannot be scored, because ..."."""
        raise NotImplementedError(f"{type(self).__name__}.score is not implemented")

    def details(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[dict[str, Any]]:
        """Optional per-row detail for reports (e.g. per-instruction verdicts). Default: none."""
        return [{} for _ in completions]

    def __call__(self, prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any) -> list[float | None]:
        """A TRL reward function: called as a one-source composite, so conversations become text,
        only dataset columns pass on, and the result is checked as in any composite."""
        return TRLRewardFunction(CompositeReward.of(self), name=self.__name__)(prompts, completions, **kwargs)

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
