"""The composite reward: several reward sources combined into one signal, every term explained.

Per batch (DESIGN.md, "Combining rewards"): an N x K matrix of raw source scores (None = NaN) ->
per-source normalisation -> weights -> NaN-aware sum (a row no source scored stays NaN) ->
vetoes (a raw score past a threshold replaces the total with a penalty) -> optional clip.

Each source runs in isolation (see ``rlit.rewards.guard``): an exception, a wrong-length result,
NaN/inf or a time-out is a ``SourceError`` naming the source (``on_error = "fail"``), or, under
``"skip"``, "no score" for only the rows that fail (the batch is halved until they are found),
with a logged warning, the error in ``stats[name]["errors"]`` and each row's reason in
``unscored``. A source may itself return ``rlit.Unscorable(reason)`` for a row it cannot score.

Signs: a source with ``higher_is_better = False`` is NOT flipped for you; give it a negative
weight (e.g. toxicity with ``weight = -1``). What you write in the config is what is summed.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rlit.errors import DataError
from rlit.rewards.batch import RewardBatch, Unscorable
from rlit.rewards.cache import ScoreCache, row_key
from rlit.rewards.config import RewardConfig, SourceConfig
from rlit.rewards.guard import call_isolated, call_source, code_fingerprint
from rlit.rewards.normalize import Normalizer, make_normalizer
from rlit.rewards.trl import AsyncRewardFunction, TRLRewardFunction

log = logging.getLogger("rlit.rewards")


@dataclass
class SourceEntry:
    """One configured source: ``name`` is its key in scores and stats (the config's label or name)."""

    name: str
    source: Any  # a RewardSource
    weight: float
    config: SourceConfig
    normalizer: Normalizer
    cache_tag: str  # source name + class + plugin version + code fingerprint: part of every cache key
    provenance: str = ""  # "<distribution> <version>" or "function <module:attr> (sha256 ...)", for manifests
    fingerprint: str = ""  # sha256 of the code of the package (or function file) that defines the source


class CompositeReward:
    """Weighted, normalised, vetoed sum of reward sources; also a TRL reward function."""

    def __init__(self, entries: list[SourceEntry], config: RewardConfig, cache: ScoreCache | None = None):
        self.entries = entries
        self.config = config
        self.cache = cache

    @classmethod
    def of(cls, source: Any) -> "CompositeReward":
        """A one-source composite around a source instance (how a bare source is called: the same
        guard, ``Unscorable`` handling and checks as in any composite). No cache: its options are
        the instance's, which no cache key can see. Configured composites come from
        ``rlit.plugins.load_reward`` (or ``rlit.rewards.build.build_reward``)."""
        name = source.name or type(source).__name__
        config = RewardConfig(sources=[SourceConfig(name=name)], cache_size=0)
        fingerprint = getattr(source, "fingerprint", None) or code_fingerprint(type(source))
        tag = f"{name}|{type(source).__module__}.{type(source).__qualname__}|code={fingerprint[:16]}"
        entry = SourceEntry(name, source, 1.0, config.sources[0], make_normalizer("none"), tag, "", fingerprint)
        return cls([entry], config)

    @property
    def fingerprints(self) -> dict[str, str]:
        """Per source: sha256 of the code of the package (or function file) that defines it (in
        its ``cache_tag``)."""
        return {e.name: e.fingerprint for e in self.entries}

    @property
    def provenance(self) -> dict[str, str]:
        """Per source, for manifests: ``"<distribution> <version>"`` of a plugin's source, or
        ``"function <module:attr> (sha256 <code fingerprint>)"`` of a function source."""
        return {e.name: e.provenance for e in self.entries}

    @property
    def required_columns(self) -> dict[str, str]:
        """Dataset columns the sources declare they need: column -> first source needing it."""
        out: dict[str, str] = {}
        for e in self.entries:
            for col in e.source.columns:  # the instance's: a function source's depend on its config
                out.setdefault(col, e.name)
        return out

    # -- scoring -----------------------------------------------------------------------------
    def score_batch(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> RewardBatch:
        """Score one batch: total per row, per-source raw and normalised scores, vetoes, reasons
        for unscored rows, and statistics (see ``RewardBatch``)."""
        n = _check_batch(prompts, completions, columns, self.required_columns)
        raw: dict[str, np.ndarray] = {}
        norm: dict[str, np.ndarray] = {}
        calls: dict[str, _Call] = {}
        for e in self.entries:
            calls[e.name] = self._raw_scores(e, list(prompts), list(completions), columns, n)
            raw[e.name] = calls[e.name].values
            norm[e.name] = e.normalizer(raw[e.name])
        contrib = {e.name: e.weight * norm[e.name] for e in self.entries}
        total, vetoed_by = self._combine(raw, contrib, n)
        stats = {e.name: _source_stats(e, raw[e.name], contrib, vetoed_by, calls[e.name]) for e in self.entries}
        return RewardBatch(
            total=total.tolist(),
            per_source={k: v.tolist() for k, v in raw.items()},
            normalized={k: v.tolist() for k, v in norm.items()},
            weights={e.name: e.weight for e in self.entries},
            stats=stats,
            vetoed_by=vetoed_by,
            unscored={k: c.reasons for k, c in calls.items()},
        )

    def with_details(self, batch: RewardBatch, prompts: list[str], completions: list[str], **columns: list[Any]) -> RewardBatch:
        """``batch`` (scored from these rows) with each source's per-row ``details()`` added."""
        return replace(batch, details=self.source_details(prompts, completions, **columns))

    def raw_scores(self, name: str, prompts: list[str], completions: list[str], /, **columns: list[Any]) -> list[float]:
        """One source's raw scores (NaN = none) through the guarded call, cache and failure policy,
        with no normalisation, weight or veto (TRL weights per-source reward functions itself)."""
        n = _check_batch(prompts, completions, columns, {})
        entry = next(e for e in self.entries if e.name == name)
        return self._raw_scores(entry, list(prompts), list(completions), columns, n).values.tolist()

    def _raw_scores(self, e: SourceEntry, prompts: list[str], completions: list[str], columns: dict, n: int) -> "_Call":
        call = _Call(np.full(n, np.nan), [None] * n)
        todo = list(range(n))
        keys: list[str] = []
        if self.cache is not None and e.config.cache:
            keys = [
                row_key(e.cache_tag, e.config.options, prompts[i], completions[i], {k: v[i] for k, v in columns.items()})
                for i in range(n)
            ]
            found = self.cache.get_many(keys)
            todo = [i for i in range(n) if keys[i] not in found]
            for i in range(n):
                value = found.get(keys[i], math.nan)
                call.values[i] = math.nan if value is None else value
        call.n_cached, call.n_computed = n - len(todo), len(todo)
        if not todo:
            return call
        pick = lambda xs: [xs[i] for i in todo]  # noqa: E731
        args = (e.name, e.source, pick(prompts), pick(completions), {k: pick(v) for k, v in columns.items()}, e.config.timeout)
        if e.config.on_error == "fail":
            values = call_source(*args)
        else:
            values, call.errors = call_isolated(*args)
            if call.errors:
                lost = sum(isinstance(v, Unscorable) for v in values)
                log.warning("%s; %d of %d row(s) of this batch get no score from it (on_error = \"skip\")", call.errors[0], lost, len(todo))
        fresh = {}
        for j, i in enumerate(todo):
            v = values[j]
            if isinstance(v, Unscorable):
                call.reasons[i] = v.reason  # never cached: a fixed row or plugin is scored next time
                continue
            call.values[i] = math.nan if v is None else v
            if keys:
                fresh[keys[i]] = v
        if fresh:
            self.cache.put_many(fresh)  # type: ignore[union-attr]
        return call

    def _combine(self, raw: dict[str, np.ndarray], contrib: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, list[str | None]]:
        matrix = np.stack([contrib[e.name] for e in self.entries]) if self.entries else np.full((1, n), np.nan)
        scored = ~np.isnan(matrix)
        total = np.where(scored.any(axis=0), np.where(scored, matrix, 0.0).sum(axis=0), np.nan)
        vetoed_by: list[str | None] = [None] * n
        penalty = np.full(n, np.inf)
        for e in self.entries:
            veto = e.config.veto
            if veto is None:
                continue
            values = raw[e.name]
            with np.errstate(invalid="ignore"):
                fired = values > veto.above if veto.above is not None else values < veto.below
            for i in np.flatnonzero(fired):
                if veto.penalty < penalty[i]:  # several vetoes: the harshest penalty wins
                    penalty[i], vetoed_by[i] = veto.penalty, e.name
        total = np.where(np.isfinite(penalty), penalty, total)
        if self.config.clip is not None:
            total = np.clip(total, -self.config.clip, self.config.clip)
        return total, vetoed_by

    # -- as TRL reward functions, and details -------------------------------------------------------------
    def reward_funcs(self) -> list[TRLRewardFunction]:
        """One TRL reward function per source, each named by its label (TRL logs
        ``rewards/<label>/mean``), for ``GRPOTrainer(reward_funcs=..., args=GRPOConfig(
        reward_weights=composite.reward_weights()))``. Each returns the source's raw scores
        (``raw_scores``): TRL does the weighting, so normalisation, vetoes and clip do not apply."""
        return [TRLRewardFunction(self, source=e.name) for e in self.entries]

    def reward_weights(self) -> list[float]:
        """The sources' weights, in the order of ``reward_funcs()``."""
        return [e.weight for e in self.entries]

    def as_async(self) -> AsyncRewardFunction:
        """This composite as an ``async`` TRL reward function (scored in a worker thread, so TRL
        runs it concurrently with its other async reward functions)."""
        return TRLRewardFunction(self).as_async()

    def __getstate__(self) -> dict[str, Any]:
        # The cache holds a lock and maybe a sqlite connection: rebuilt from the config instead.
        return {k: v for k, v in self.__dict__.items() if k != "cache"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.cache = make_cache(self.config)

    @property
    def __name__(self) -> str:  # TRL names reward functions by __name__
        return "rlit-composite"

    def __call__(self, prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any) -> list[float | None]:
        """A TRL reward function (``rlit.rewards.trl.TRLRewardFunction``): the total per row."""
        return TRLRewardFunction(self)(prompts, completions, **kwargs)

    def source_details(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> dict[str, list[dict]]:
        """Each source's per-row ``details()`` (for reports), keyed like ``per_source``."""
        _check_batch(prompts, completions, columns, {})
        out = {}
        for e in self.entries:
            rows = call_source(e.name, e.source, list(prompts), list(completions), columns, e.config.timeout, method="details")
            out[e.name] = [dict(r) if r else {} for r in rows]
        return out

    # -- checkpointing -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Normaliser state per source (running mean/std), for trainer checkpoints."""
        return {"normalizers": {e.name: e.normalizer.state_dict() for e in self.entries}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("normalizers", {})
        for e in self.entries:
            if e.name in saved:
                e.normalizer.load_state_dict(saved[e.name])
            else:
                log.warning("no saved normaliser state for reward source %r; it starts fresh", e.name)
        for name in set(saved) - {e.name for e in self.entries}:
            log.warning("saved normaliser state for %r ignored: not in this reward config", name)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def make_cache(cfg: RewardConfig) -> ScoreCache | None:
    return ScoreCache(cfg.cache_size, cfg.cache_dir) if (cfg.cache_size > 0 or cfg.cache_dir) else None


def _check_batch(prompts: list, completions: list, columns: dict, required: dict[str, str]) -> int:
    n = len(completions)
    if len(prompts) != n:
        raise DataError(f"{len(prompts)} prompts for {n} completions")
    for key, values in columns.items():
        if not isinstance(values, (list, tuple)) or len(values) != n:
            size = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
            raise DataError(f"column {key!r} must be a list of {n} values (one per completion), got {size}")
    for col, source in required.items():
        if col not in columns:
            raise DataError(f"reward source {source!r} needs column {col!r}, which the data does not have")
    return n


@dataclass
class _Call:
    """One source's answer for one batch."""

    values: np.ndarray  # raw scores, NaN = none
    reasons: list[str | None]  # per row: why it has no score (Unscorable / failed call)
    errors: list[str] = field(default_factory=list)  # distinct call errors (on_error = "skip")
    n_cached: int = 0
    n_computed: int = 0


def _source_stats(e: SourceEntry, raw: np.ndarray, contrib: dict[str, np.ndarray], vetoed_by: list, call: _Call) -> dict[str, Any]:
    ok = raw[~np.isnan(raw)]
    mine = np.abs(np.nan_to_num(contrib[e.name]))
    everyone = sum(np.abs(np.nan_to_num(c)).sum() for c in contrib.values())
    c_ok = contrib[e.name][~np.isnan(contrib[e.name])]
    return {
        "mean": float(ok.mean()) if ok.size else None,
        "std": float(ok.std()) if ok.size else None,
        "weight": e.weight,
        "contribution": float(c_ok.mean()) if c_ok.size else None,  # mean of weight * normalised score
        "share": float(mine.sum() / everyone) if everyone > 0 else 0.0,  # of the summed |contributions|
        "n_scored": int(ok.size),
        "n_vetoed": sum(v == e.name for v in vetoed_by),
        "errors": call.errors,
        "unscored": dict(Counter(r for r in call.reasons if r is not None)),  # reason -> rows
        "n_cached": call.n_cached,
        "n_computed": call.n_computed,
    }
