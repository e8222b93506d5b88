"""What a reward is made of: a source's answer for one row, and a composite's typed result for a batch.

"Missing" has one form here: NaN in the float lists (``total``, ``per_source``, ``normalized``),
read as the ``scored`` mask. ``optional()`` is the one place NaN becomes ``None``, for the
outputs that speak JSON or TRL (``rlit score`` rows, ``rlit serve`` replies, TRL reward functions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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


Score = float | None | Unscorable  # one row's answer from a source


def optional(values: list[float]) -> list[float | None]:
    """NaN (no score) as ``None``: the one conversion between the two forms of "missing"."""
    return [None if math.isnan(v) else float(v) for v in values]


@dataclass(frozen=True)
class RewardBatch:
    """One batch's reward, as the composite produced it (sources x rows)."""

    total: list[float]  # per row, NaN where no source scored it (or after a veto/clip: the final value)
    per_source: dict[str, list[float]]  # raw scores per source, NaN = no score
    normalized: dict[str, list[float]]  # after normalisation, before weights
    weights: dict[str, float]
    stats: dict[str, dict[str, Any]]  # per source: mean, std, weight, contribution, share, n_scored, n_vetoed, errors, ...
    vetoed_by: list[str | None]  # per row: the source whose veto set the total
    unscored: dict[str, list[str | None]]  # per source, per row: why it gave no score (Unscorable / failed call)
    details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per source, per row, when asked for

    @property
    def sources(self) -> list[str]:
        return list(self.per_source)

    @property
    def scored(self) -> list[bool]:
        """Per row: whether it has a total (some source scored it, or a veto set it)."""
        return [not math.isnan(t) for t in self.total]

    @property
    def raw_matrix(self) -> np.ndarray:
        """Raw scores, sources x rows (NaN = no score)."""
        return np.array([self.per_source[s] for s in self.per_source], dtype=float).reshape(len(self.per_source), len(self.total))

    @property
    def weighted_matrix(self) -> np.ndarray:
        """What each source added to each row's total: weight x normalised score, sources x rows."""
        rows = [[self.weights[s] * z for z in self.normalized[s]] for s in self.normalized]
        return np.array(rows, dtype=float).reshape(len(self.normalized), len(self.total))

    def rewards(self) -> list[float | None]:
        """The totals with ``None`` for unscored rows (TRL's and JSON's form)."""
        return optional(self.total)

    def row(self, i: int) -> dict[str, Any]:
        """Row ``i`` as ``rlit score`` and ``rlit serve`` write it: raw scores, total, why unscored, veto."""
        return {
            "scores": {name: optional([v[i]])[0] for name, v in self.per_source.items()},
            "reward": optional([self.total[i]])[0],
            "unscored": {name: reasons[i] for name, reasons in self.unscored.items() if reasons[i] is not None},
            "vetoed_by": self.vetoed_by[i],
        }

    def slice(self, a: int, b: int) -> "RewardBatch":
        """Rows ``a:b`` (a request's share of a merged batch); statistics stay the whole batch's."""
        cut = lambda d: {k: v[a:b] for k, v in d.items()}  # noqa: E731
        return RewardBatch(self.total[a:b], cut(self.per_source), cut(self.normalized), self.weights, self.stats,
                           self.vetoed_by[a:b], cut(self.unscored), cut(self.details))

    def summary(self) -> dict[str, Any]:
        """Mean/std of the total, and how many rows were unscored or vetoed."""
        ok = np.array([t for t, s in zip(self.total, self.scored) if s], dtype=float)
        return {
            "n": len(self.total),
            "mean": float(ok.mean()) if ok.size else None,
            "std": float(ok.std()) if ok.size else None,
            "n_unscored": len(self.total) - int(ok.size),
            "n_vetoed": sum(v is not None for v in self.vetoed_by),
        }
