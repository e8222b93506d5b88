"""The results object (what results.json holds) and re-gating stored results without generating."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlit.errors import DataError, GateFailed, RlitError
from rlit.evaluation.gate import compare_eval, gate_eval, overall_verdict
from rlit.evaluation.suite import Suite

FORMAT = "rlit-results/1"


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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(_clean(self.to_dict()), indent=1))
        tmp.replace(path)  # never leave a half-written results file
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SuiteResults":
        path = Path(path)
        if not path.is_file():
            raise DataError(f"results file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"{path}: not an rlit results file (expected format {FORMAT!r})")
        evals = {}
        for i, e in enumerate(data.get("evals") or []):
            missing = [k for k in ("name", "status") if k not in e]
            if e.get("status") == "ok":
                missing += [k for k in ("value", "units", "stat", "higher_is_better") if k not in e]
            if missing:
                raise DataError(f"{path}: evals[{i}]: missing key(s) {', '.join(missing)}")
            evals[e["name"]] = e
        return cls(data.get("suite") or {}, data.get("manifest") or {}, evals, data.get("verdict", "error"), data.get("baseline"))

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
