"""The results object (what results.json holds) and re-gating stored results without generating."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rlit.atomic import write_json, write_text
from rlit.errors import DataError, GateFailed, RlitError
from rlit.evaluation.gate import compare_eval, gate_eval, overall_verdict
from rlit.evaluation.suite import Suite, _loc

FORMAT = "rlit-results/1"


def samples_path(out_dir: str | Path, eval_name: str) -> Path:
    return Path(out_dir) / f"samples_{eval_name}.jsonl"


def write_samples(out_dir: str | Path, eval_name: str, rows: list[dict[str, Any]]) -> Path:
    """``samples_<eval>.jsonl`` beside results.json: one JSON object per completion, written
    atomically (eval names are restricted to [A-Za-z0-9_.-], so the name is a safe file name)."""
    path = samples_path(out_dir, eval_name)
    text = "".join(json.dumps(_clean(r), allow_nan=False) + "\n" for r in rows)
    write_text(path, text)
    return path


# -- the file's shape: every results file read (gate, --baseline, compare) is checked against it --

class _Unit(BaseModel):
    """One resampling unit (a prompt, or a counterfactual group): what paired comparisons match."""

    model_config = ConfigDict(strict=True, extra="allow")
    key: str
    value: float
    weight: float = 1.0
    category: str | None = None


class _Breakdown(BaseModel):
    model_config = ConfigDict(extra="allow")
    value: float | None
    n: int


class _SourceStats(BaseModel):
    model_config = ConfigDict(extra="allow")
    mean: float | None = None
    std: float | None = None
    weight: float | None = None
    share: float | None = None


class _EvalRecord(BaseModel):
    """One eval as results.json stores it; an ``ok`` eval must carry what the gate reads."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(strict=True)
    status: Literal["ok", "error"]
    error: str | None = None
    value: float | None = None
    units: list[_Unit] | None = None
    stat: str | None = None
    higher_is_better: bool | None = Field(None, strict=True)
    ci: list[float | None] | None = Field(None, min_length=2, max_length=2)
    n_units: int | None = None
    seconds: float = 0.0
    breakdown: dict[str, _Breakdown] | None = None
    per_source: dict[str, _SourceStats] | None = None

    @model_validator(mode="after")
    def _ok_has_scores(self) -> "_EvalRecord":
        if self.status == "ok":
            missing = [k for k in ("value", "units", "stat", "higher_is_better") if k not in self.model_fields_set]
            if missing:
                raise ValueError(f"missing key(s) {', '.join(missing)}")
        return self


class _ResultsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["rlit-results/1"]
    suite: dict[str, Any] = Field(default_factory=dict)
    verdict: Literal["pass", "fail", "error", "interrupted", "incomplete"] | None = None
    baseline: str | None = None
    manifest: dict[str, Any] = Field(default_factory=dict)
    evals: list[_EvalRecord]


def read_results_file(path: str | Path) -> dict[str, Any]:
    """The parsed, shape-checked JSON of a results file; every problem is one DataError naming the
    file and the key at fault."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file not found: {path}" if not path.exists() else f"{path}: is not a file")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    except RecursionError:
        raise DataError(f"{path}: not an rlit results file (JSON nested too deeply)") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = f"a JSON {type(data).__name__}" if not isinstance(data, dict) else f"format {data.get('format')!r}"
        raise DataError(f"{path}: not an rlit results file (expected an object with format {FORMAT!r}, got {got})")
    try:
        _ResultsFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise DataError(f"{path}: {_loc(err['loc'], data)}: {msg}{more}") from None
    names = [e["name"] for e in data["evals"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{path}: evals: eval name(s) {', '.join(map(repr, dupes))} appear more than once")
    return data


@dataclass
class SuiteResults:
    """Scores, intervals, per-sample units, comparisons and verdicts of one suite run.

    ``values`` maps eval name -> score; ``verdict`` is pass / fail / error; ``evals`` holds each
    eval's full record (the same dicts as in results.json).
    """

    suite: dict[str, Any]
    manifest: dict[str, Any]
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    verdict: str = "error"
    baseline: str | None = None

    @property
    def values(self) -> dict[str, float | None]:
        return {n: e.get("value") for n, e in self.evals.items()}

    @property
    def errors(self) -> dict[str, str]:
        return {n: e["error"] for n, e in self.evals.items() if e.get("status") != "ok"}

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "suite": self.suite, "verdict": self.verdict, "baseline": self.baseline,
                "manifest": self.manifest, "evals": list(self.evals.values())}

    def save(self, path: str | Path) -> Path:
        """Write results.json atomically (never a half-written file, even on kill -9)."""
        write_json(path, _clean(self.to_dict()))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "SuiteResults":
        """Read a results file; a file of the wrong shape is a DataError naming the file and key."""
        data = read_results_file(path)
        evals = {e["name"]: e for e in data["evals"]}
        return cls(data.get("suite") or {}, data.get("manifest") or {}, evals, data.get("verdict") or "error", data.get("baseline"))

    def apply_gates(self, suite: Suite, baseline: "SuiteResults | None" = None, baseline_name: str | None = None) -> str:
        """(Re)compute comparisons and gate verdicts for every eval of ``suite``; returns the overall verdict."""
        self.baseline = baseline_name if baseline is not None else None
        verdicts = []
        for spec in suite.evals:
            res = self.evals.get(spec.name)
            if res is None:
                res = self.evals[spec.name] = {"name": spec.name, "status": "error", "error": "not in the results file"}
            base = baseline.evals.get(spec.name) if baseline is not None else None
            res["comparison"] = compare_eval(res, base, spec.gate.alpha, suite.bootstrap, suite.confidence, suite.seed)
            if baseline is not None and spec.gate.max_regression is not None and base is None:
                res["comparison"] = None
            res["gate_spec"] = spec.gate.model_dump()
            res["gate"] = gate_eval(res, spec.gate, baseline is not None)
            verdicts.append(res["gate"]["status"])
        self.verdict = overall_verdict(verdicts)
        return self.verdict

    def raise_for_verdict(self) -> None:
        """Raise the first evaluation error (exit 2) or GateFailed (exit 1); return on pass."""
        if self.verdict == "error":
            name, msg = next(iter(self.errors.items()), (None, None))
            if name is None:
                failed = [n for n, e in self.evals.items() if e.get("gate", {}).get("status") == "error"]
                msg = "; ".join(c["message"] for c in self.evals[failed[0]]["gate"]["checks"]) if failed else "unknown"
                name = failed[0] if failed else "?"
            raise RlitError(f"eval {name!r} could not be evaluated: {msg}")
        if self.verdict == "fail":
            failed = [n for n, e in self.evals.items() if e.get("gate", {}).get("status") == "fail"]
            raise GateFailed(f"release gate failed: {', '.join(failed)}")


def _clean(obj: Any) -> Any:
    """JSON without NaN (null instead), so every JSON reader accepts the file."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
