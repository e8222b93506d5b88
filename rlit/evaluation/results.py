"""The typed records of a run, from metric to gate: units, an eval's result, its comparison with a
baseline, its gate verdict, and the suite's results (what results.json holds). The same models are
used in memory and for the file: results.json is ``SuiteResults`` serialised, and every results
file read (gate, --baseline, compare) is validated back into it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from rlit.atomic import write_json, write_text
from rlit.configfile import key_path
from rlit.errors import DataError, GateFailed, RlitError
from rlit.jsonl import json_safe

FORMAT = "rlit-results/1"
Verdict = Literal["pass", "fail", "error", "interrupted", "incomplete"]


def samples_path(out_dir: str | Path, eval_name: str) -> Path:
    return Path(out_dir) / f"samples_{eval_name}.jsonl"


def write_samples(out_dir: str | Path, eval_name: str, rows: list[dict[str, Any]]) -> Path:
    """``samples_<eval>.jsonl`` beside results.json: one JSON object per completion (NaN as null),
    written atomically (eval names are restricted to [A-Za-z0-9_.-], so the name is a safe file name)."""
    path = samples_path(out_dir, eval_name)
    write_text(path, "".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in rows))
    return path


class Unit(BaseModel):
    """One resampling unit (a prompt, or a counterfactual group): what paired comparisons match."""

    model_config = ConfigDict(strict=True, extra="allow")
    key: str
    value: float
    weight: float = 1.0
    category: str | None = None


class Breakdown(BaseModel):
    model_config = ConfigDict(extra="allow")
    value: float | None
    n: int


class SourceStats(BaseModel):
    """One reward source's share of an eval's scores (the report's per-source table)."""

    model_config = ConfigDict(extra="allow")
    mean: float | None = None
    std: float | None = None
    weight: float | None = None
    share: float | None = None


class Comparison(BaseModel):
    """current - baseline on the units both runs share: the difference, its two-sided interval
    (``ci``) and one-sided bounds at ``alpha`` (``lower``/``upper``); all None without shared units."""

    model_config = ConfigDict(extra="allow")
    n_pairs: int
    only_current: int = 0
    only_baseline: int = 0
    diff: float | None = None
    ci: list[float] | None = None
    lower: float | None = None
    upper: float | None = None
    alpha: float | None = None


class Check(BaseModel):
    check: str
    passed: bool
    message: str


class GateVerdict(BaseModel):
    """One eval's gate: each check with its message, and pass / fail / error."""

    status: Literal["pass", "fail", "error"]
    checks: list[Check] = Field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


class EvalResult(BaseModel):
    """One eval's result; an ``ok`` result carries what the gate reads (value, units, stat,
    higher_is_better), an ``error`` one the message. ``comparison`` and ``gate`` are filled by
    :func:`rlit.evaluation.gate.apply_gates`."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(strict=True)
    status: Literal["ok", "error"]
    error: str | None = None
    error_type: str | None = None
    description: str | None = None
    kind: str | None = None
    value: float | None = None
    raw_value: float | None = None
    units: list[Unit] | None = None
    stat: str | None = None
    higher_is_better: bool | None = Field(None, strict=True)
    ci: list[float | None] | None = Field(None, min_length=2, max_length=2)
    n_units: int | None = None
    n_unscored: int | None = None
    seconds: float = 0.0
    breakdown: dict[str, Breakdown] | None = None
    per_source: dict[str, SourceStats] | None = None
    prompts: dict[str, Any] | None = None
    generation: dict[str, Any] | None = None
    metric: dict[str, Any] | None = None
    aggregate: dict[str, Any] | None = None
    lm_eval: dict[str, Any] | None = None
    # Per-prompt rows {"key", "prompt", "completions"}: a payload like samples_<eval>.jsonl, kept
    # as plain JSON (thousands of small models would make loading a results file 5x slower).
    completions: list[dict[str, Any]] | None = None
    comparison: Comparison | None = None
    gate_spec: dict[str, Any] | None = None
    gate: GateVerdict | None = None

    @model_validator(mode="after")
    def _ok_has_scores(self) -> "EvalResult":
        if self.status == "ok":
            missing = [k for k in ("value", "units", "stat", "higher_is_better") if k not in self.model_fields_set]
            if missing:
                raise ValueError(f"missing key(s) {', '.join(missing)}")
        return self

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def method(self) -> str | None:
        """The aggregation method (``group_gap``: units are counterfactual groups, not prompts)."""
        return (self.aggregate or {}).get("method")

    @property
    def threshold(self) -> float | None:
        """The threshold of a ``rate_above`` / ``rate_below`` aggregation."""
        value = (self.aggregate or {}).get("threshold")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class SuiteSummary(BaseModel):
    """What a caller keeps of a run (the PPO evaluation hook, the pipeline's before/after table):
    each eval's score, error and comparison with the baseline, and the verdict."""

    verdict: Verdict
    values: dict[str, float | None]
    errors: dict[str, str] = Field(default_factory=dict)
    comparison: dict[str, Comparison | None] = Field(default_factory=dict)


_EVALS = TypeAdapter(list[EvalResult])


class SuiteResults(BaseModel):
    """Scores, intervals, per-sample units, comparisons and verdicts of one suite run.

    ``evals`` maps eval name -> :class:`EvalResult` (results.json stores them as a list);
    ``verdict`` is pass / fail / error (interrupted / incomplete while or after a broken run).
    """

    model_config = ConfigDict(extra="forbid")
    format: Literal["rlit-results/1"] = FORMAT
    suite: dict[str, Any] = Field(default_factory=dict)
    verdict: Verdict = "error"
    baseline: str | None = None
    manifest: dict[str, Any] = Field(default_factory=dict)
    evals: dict[str, EvalResult] = Field(default_factory=dict)

    @property
    def values(self) -> dict[str, float | None]:
        return {n: e.value for n, e in self.evals.items()}

    @property
    def errors(self) -> dict[str, str]:
        return {n: e.error or "" for n, e in self.evals.items() if not e.ok}

    def summary(self) -> SuiteSummary:
        return SuiteSummary(verdict=self.verdict, values=self.values, errors=self.errors,
                            comparison={n: e.comparison for n, e in self.evals.items()})

    def to_json(self) -> dict[str, Any]:
        """results.json's content: the evals as a list, each with the keys its run set (an eval
        that was never gated has no ``gate``), NaN as null."""
        evals = [e.model_dump(exclude_unset=True) for e in self.evals.values()]
        return json_safe({**self.model_dump(exclude={"evals"}), "evals": evals})

    def save(self, path: str | Path) -> Path:
        """Write results.json atomically (never a half-written file, even on kill -9)."""
        write_json(path, self.to_json())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "SuiteResults":
        """Read a results file; a file of the wrong shape is one DataError naming the file and key."""
        path = Path(path)
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = f"a JSON {type(data).__name__}" if not isinstance(data, dict) else f"format {data.get('format')!r}"
            raise DataError(f"{path}: not an rlit results file (expected an object with format {FORMAT!r}, got {got})")
        if "evals" not in data:
            raise DataError(f"{path}: evals: Field required")
        evals = _validated(path, data, lambda: _EVALS.validate_python(data["evals"]), ("evals",))
        names = [e.name for e in evals]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DataError(f"{path}: evals: eval name(s) {', '.join(map(repr, dupes))} appear more than once")
        head = {k: v for k, v in data.items() if k != "evals" and not (k == "verdict" and v is None)}
        results = _validated(path, data, lambda: cls.model_validate(head), ())
        results.evals = {e.name: e for e in evals}
        return results

    def raise_for_verdict(self) -> None:
        """Raise the first evaluation error (exit 2) or GateFailed (exit 1); return on pass."""
        if self.verdict == "error":
            name, msg = next(iter(self.errors.items()), (None, None))
            if name is None:
                failed = [n for n, e in self.evals.items() if e.gate is not None and e.gate.status == "error"]
                msg = "; ".join(c.message for c in self.evals[failed[0]].gate.checks) if failed else "unknown"
                name = failed[0] if failed else "?"
            raise RlitError(f"eval {name!r} could not be evaluated: {msg}")
        if self.verdict == "fail":
            failed = [n for n, e in self.evals.items() if e.gate is not None and e.gate.status == "fail"]
            raise GateFailed(f"release gate failed: {', '.join(failed)}")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"results file not found: {path}" if not path.exists() else f"{path}: is not a file")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except RecursionError:
        raise DataError(f"{path}: not an rlit results file (JSON nested too deeply)") from None


def _validated(path: Path, data: dict[str, Any], validate: Any, prefix: tuple) -> Any:
    """``validate()``, its first ValidationError as one DataError naming the file and key."""
    try:
        return validate()
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise DataError(f"{path}: {key_path(prefix + tuple(err['loc']), data) or '(top level)'}: {msg}{more}") from None
