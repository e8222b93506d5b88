"""Per-source normalisation of a batch of scores (NaN = no score, left as NaN).

- ``none``: scores pass through.
- ``batch``: z-score within the batch.
- ``running``: z-score against the mean/std of every score seen so far (this batch included);
  the state survives batches and is saved with ``state_dict()`` so a trainer can checkpoint it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPS = 1e-8


class Normalizer:
    """Identity (``normalize = "none"``); the base of the others."""

    kind = "none"

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return scores.astype(float, copy=True)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"normaliser state is for {state.get('kind')!r}, not {self.kind!r}")


class BatchZScore(Normalizer):
    """(x - batch mean) / batch std over the scored rows; a constant batch becomes all 0."""

    kind = "batch"

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        out = scores.astype(float, copy=True)
        valid = ~np.isnan(out)
        if valid.any():
            mean, std = out[valid].mean(), out[valid].std()
            out[valid] = (out[valid] - mean) / max(std, EPS) if std > EPS else 0.0
        return out


class RunningMeanStd(Normalizer):
    """Running mean/variance (Chan et al.'s parallel update), then (x - mean) / std."""

    kind = "running"

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count > 1 else 1.0

    def update(self, values: np.ndarray) -> None:
        n = int(values.size)
        if n == 0:
            return
        b_mean, b_m2 = float(values.mean()), float(((values - values.mean()) ** 2).sum())
        total = self.count + n
        delta = b_mean - self.mean
        self.mean += delta * n / total
        self.m2 += b_m2 + delta**2 * self.count * n / total
        self.count = total

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        out = scores.astype(float, copy=True)
        valid = ~np.isnan(out)
        self.update(out[valid])
        std = self.std
        out[valid] = (out[valid] - self.mean) / std if std > EPS else 0.0
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "mean": self.mean, "m2": self.m2}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.count, self.mean, self.m2 = int(state["count"]), float(state["mean"]), float(state["m2"])


def make_normalizer(kind: str) -> Normalizer:
    """The normaliser for a config's ``normalize`` value."""
    return {"none": Normalizer, "batch": BatchZScore, "running": RunningMeanStd}[kind]()
