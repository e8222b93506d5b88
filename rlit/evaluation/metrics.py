"""Scoring completions with reward sources (one, or a composite) and aggregating per-sample scores.

Aggregation turns the per-completion scores into *units* (one per prompt, or per counterfactual
group) with a value and a weight, and a statistic over units (weighted mean, max or min). Units
are what the bootstrap resamples and what a paired comparison matches by key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rlit.errors import ConfigError, PluginError
from rlit.evaluation.suite import AggregateSpec, MetricSpec
from rlit.plugins import get_registry, load_reward
from rlit.rewards.composite import CompositeReward
from rlit.rewards.config import load_reward_config
from rlit.rewards.source import Verdicts

NAN = float("nan")


@dataclass
class Scored:
    values: list[float]                                  # one per completion, NaN = not scored
    per_source: dict[str, list[float]] = field(default_factory=dict)
    source_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: list[dict[str, Any]] | None = None
    higher_is_better: bool = True
    cached: int = 0  # completions whose every score came from the score cache
    computed: int = 0  # completions a source scored now


class Scorer:
    """Scores completions with the metric of one eval.

    Every metric is a composite reward: a single ``source`` becomes a one-source composite, so
    each call goes through the one guarded path (option checks, time-outs, result checks, errors
    naming the suite file and key) and the one score cache, the composite's (per row; its key
    carries each source's ``cache_tag``). With ``cache_root`` that cache persists in
    ``<cache_root>/scores`` unless the metric's reward config names its own ``cache_dir``.
    """

    def __init__(self, spec: MetricSpec, base_dir: str | Path = ".", need_details: bool = False, origin: str = "metric",
                 cache_root: Path | None = None):
        self.spec = spec
        self.need_details = need_details
        registry = get_registry()
        self.composite = _build_composite(spec, Path(base_dir), origin, cache_root)
        self.single = spec.source is not None
        self.names = [e.name for e in self.composite.entries]
        default = bool(self.composite.entries[0].source.higher_is_better) if self.single else True  # instance: may depend on options
        self.higher_is_better = default if spec.higher_is_better is None else spec.higher_is_better
        self.plugins = {n: e.provenance if e.config.function else _plugin_version(registry, e.config.name)  # function: module + code sha256
                        for n, e in zip(self.names, self.composite.entries)}
        self.verdicts = _verdict_source(self.composite.entries, origin) if need_details else None

    def close(self) -> None:
        self.composite.close()

    def score(self, prompts: list[str], completions: list[str], columns: dict[str, list]) -> Scored:
        res = self.composite.score_batch(prompts, completions, **columns)
        # A completion counts as computed when any source had to score it.
        computed = max((st["n_computed"] for st in res.stats.values()), default=0)
        details = None
        if self.verdicts:
            name, declared = self.verdicts
            res = self.composite.with_details(res, prompts, completions, **columns)
            details = [verdict_record(d, declared, columns, i) for i, d in enumerate(res.details[name])]
        counts = {"cached": len(completions) - computed, "computed": computed}
        if self.single:  # the source's own scores, with no composite statistics around them
            return Scored(res.per_source[self.names[0]], res.per_source, {}, details, self.higher_is_better, **counts)
        return Scored(res.total, res.per_source, res.stats, details, self.higher_is_better, **counts)


def _build_composite(spec: MetricSpec, base_dir: Path, origin: str, cache_root: Path | None) -> CompositeReward:
    if spec.source:  # a single source is a one-source composite: the same guarded path
        config = load_reward_config({"sources": [{"name": spec.source, "options": spec.options}]}, origin, base_dir)
    elif spec.reward:
        path = base_dir / spec.reward
        if not path.is_file():
            raise ConfigError(f"{origin}.reward: reward config not found: {path}")
        config = load_reward_config(str(path))
    else:  # function files resolve beside the suite
        config = load_reward_config({"sources": spec.sources}, origin, base_dir)
    if cache_root is not None and config.cache_dir is None:
        config.cache_dir = str(cache_root / "scores")
    return load_reward(config)


def _plugin_version(registry: Any, source: str) -> str:
    reg = registry.sources.get(source)
    dist = reg.distribution if reg else None
    if not dist:
        return f"{reg.plugin if reg else '?'} (no distribution)"
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return f"{dist} (version unknown)"


# -- aggregation -------------------------------------------------------------------------------

# Per-instruction verdicts as results files record them (the report's sample browser reads the same
# keys), whatever the declaring source calls them in its details().
VERDICT_IDS, VERDICTS, VERDICT_GROUPS = "instruction_id_list", "followed", "instruction_groups"
VERDICT_METHODS = ("prompt_level", "instruction_level")


def _verdict_source(entries: list[Any], origin: str) -> tuple[str, Verdicts]:
    """The first source of the metric that declares per-instruction verdicts (``RewardSource.verdicts``)."""
    for e in entries:
        declared = getattr(e.source, "verdicts", None)
        if isinstance(declared, Verdicts):
            return e.name, declared
    names = ", ".join(repr(e.name) for e in entries)
    raise ConfigError(f"{origin}: aggregate {' / '.join(VERDICT_METHODS)} needs a source that declares per-instruction "
                      f"verdicts (RewardSource.verdicts); source {names} declares none")


def verdict_record(row: dict[str, Any], declared: Verdicts, columns: dict[str, list], i: int) -> dict[str, Any]:
    """One completion's verdicts in the results' form: ids, bools and (if declared) each id's group."""
    ids = row.get(declared.ids) if declared.ids else None
    if ids is None and declared.ids in columns:
        ids = columns[declared.ids][i]
    ids = [str(x) for x in (ids or [])]
    record = {k: v for k, v in row.items() if k not in (declared.key, declared.ids)}
    record.update({VERDICT_IDS: ids, VERDICTS: [bool(x) for x in (row.get(declared.key) or [])]})
    if declared.group_separator:
        record[VERDICT_GROUPS] = [x.split(declared.group_separator)[0] for x in ids]
    return record


@dataclass
class Aggregate:
    units: list[dict[str, Any]]      # {"key", "value", "weight", "category"}
    stat: str                        # "mean" (weighted) | "max" | "min"
    value: float
    higher_is_better: bool
    n_unscored: int = 0
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)


def unit_statistic(values: list[float], weights: list[float], stat: str) -> float:
    if not values:
        return NAN
    if stat == "max":
        return max(values)
    if stat == "min":
        return min(values)
    return sum(v * w for v, w in zip(values, weights)) / sum(weights)


def aggregate(spec: AggregateSpec, rows: list[dict[str, Any]], scored: Scored, samples: int) -> Aggregate:
    """Per-prompt (or per-group) units from ``len(rows) * samples`` completion scores (row-major)."""
    method = spec.method
    per_row = [scored.values[i * samples:(i + 1) * samples] for i in range(len(rows))]
    det = None
    if method in VERDICT_METHODS:
        if not scored.details or any(VERDICTS not in d for d in scored.details):
            raise PluginError(f"aggregate method {method!r}: the scores carry no per-instruction verdicts "
                              "(the metric's source must declare RewardSource.verdicts)")
        det = [scored.details[i * samples:(i + 1) * samples] for i in range(len(rows))]
    units, n_unscored = [], 0
    for i, row in enumerate(rows):
        value, weight = _unit(method, spec, per_row[i], det[i] if det else None)
        if value is None:
            n_unscored += 1
            continue
        units.append({"key": row["key"], "value": value, "weight": weight, "category": _category(row, spec)})
    stat = {"max": "max", "min": "min"}.get(method, "mean")
    higher = scored.higher_is_better
    if method in ("rate_below",):
        higher = not higher
    if method in VERDICT_METHODS:
        higher = True
    if method == "group_gap":
        units, stat, higher = _group_units(units, rows, spec), spec.gap, False
    value = unit_statistic([u["value"] for u in units], [u["weight"] for u in units], stat)
    agg = Aggregate(units, stat, value, higher, n_unscored)
    if spec.by:
        agg.breakdown = _breakdown(units, stat)
    if method == "instruction_level":
        agg.breakdown = _instruction_breakdown(det)
    return agg


def _unit(method: str, spec: AggregateSpec, vals: list[float], det: list[dict] | None) -> tuple[float | None, float]:
    if det is not None:
        followed = [bool(x) for d in det for x in d[VERDICTS]]
        if not followed:
            return None, 0.0
        if method == "prompt_level":
            return sum(all(d[VERDICTS] or [False]) for d in det) / len(det), 1.0
        return sum(followed) / len(followed), float(len(followed))
    ok = [v for v in vals if not math.isnan(v)]
    if not ok:
        return None, 0.0
    if method == "rate_above":
        ok = [1.0 if v > spec.threshold else 0.0 for v in ok]
    elif method == "rate_below":
        ok = [1.0 if v < spec.threshold else 0.0 for v in ok]
    if method == "max":
        return max(ok), 1.0
    if method == "min":
        return min(ok), 1.0
    return sum(ok) / len(ok), 1.0


def _category(row: dict[str, Any], spec: AggregateSpec) -> str | None:
    if spec.by is None:
        return None
    value = row.get(spec.by)
    return "(none)" if value is None else str(value)


def _group_units(units: list[dict], rows: list[dict], spec: AggregateSpec) -> list[dict]:
    """Counterfactual gap: per group of rows sharing ``spec.group``, the spread (max - min) of the unit values."""
    group_of = {r["key"]: r.get(spec.group) for r in rows}
    groups: dict[str, list[dict]] = {}
    for u in units:
        g = group_of.get(u["key"])
        if g is not None:
            groups.setdefault(str(g), []).append(u)
    out = []
    for g, members in groups.items():
        if len(members) < 2:
            continue
        vals = [m["value"] for m in members]
        out.append({"key": g, "value": max(vals) - min(vals), "weight": 1.0, "category": members[0]["category"]})
    if not out:
        raise ConfigError(f"aggregate group_gap: no group of column {spec.group!r} has two scored rows")
    return out


def _breakdown(units: list[dict], stat: str) -> dict[str, dict[str, float]]:
    cats: dict[str, list[dict]] = {}
    for u in units:
        cats.setdefault(u["category"] or "(all)", []).append(u)
    return {c: {"value": unit_statistic([u["value"] for u in us], [u["weight"] for u in us], stat), "n": len(us)}
            for c, us in sorted(cats.items())}


def _instruction_breakdown(det: list[list[dict]]) -> dict[str, dict[str, float]]:
    """Accuracy per instruction id and, where the source declares groups, per ``type:<group>``."""
    tally: dict[str, list[int]] = {}
    for samples in det:
        for d in samples:
            ids, groups = d.get(VERDICT_IDS) or [], d.get(VERDICT_GROUPS) or []
            for k, (iid, ok) in enumerate(zip(ids, d[VERDICTS])):
                for name in ([f"type:{groups[k]}"] if k < len(groups) else []) + [iid]:
                    t = tally.setdefault(name, [0, 0])
                    t[0] += bool(ok)
                    t[1] += 1
    return {k: {"value": a / n, "n": n} for k, (a, n) in sorted(tally.items())}
