"""The release gate: absolute thresholds plus a paired regression test against a baseline run.

Per eval the verdict is ``pass``, ``fail`` or ``error`` (the eval could not be computed, or a
baseline comparison was asked for and is impossible); overall: error > fail > pass.
"""

from __future__ import annotations

import math
from typing import Any

from rlit.evaluation.stats import is_regression, paired_difference
from rlit.evaluation.suite import GateSpec


def compare_eval(current: dict[str, Any], baseline: dict[str, Any] | None, alpha: float, n_resamples: int,
                 confidence: float, seed: int) -> dict[str, Any] | None:
    """The paired comparison of one eval's stored units with the baseline's (None without baseline)."""
    if baseline is None or current.get("status") != "ok" or baseline.get("status") != "ok":
        return None
    return paired_difference(current["units"], baseline["units"], current["stat"], n_resamples, confidence, alpha, seed)


def gate_eval(result: dict[str, Any], gate: GateSpec, has_baseline: bool) -> dict[str, Any]:
    """Checks and verdict for one eval result (as stored in results.json)."""
    if result.get("status") != "ok":
        return {"status": "error", "checks": [{"check": "evaluate", "passed": False, "message": result.get("error", "not computed")}]}
    value, checks = result["value"], []
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {"status": "error", "checks": [{"check": "evaluate", "passed": False, "message": "no sample could be scored"}]}
    if gate.min is not None:
        ok = value >= gate.min
        checks.append({"check": "min", "passed": ok, "message": f"{value:.4f} {'>=' if ok else '<'} min {gate.min}"})
    if gate.max is not None:
        ok = value <= gate.max
        checks.append({"check": "max", "passed": ok, "message": f"{value:.4f} {'<=' if ok else '>'} max {gate.max}"})
    if gate.max_regression is not None and has_baseline:
        cmp = result.get("comparison")
        if not cmp or cmp.get("diff") is None:
            return {"status": "error", "checks": checks + [{"check": "max_regression", "passed": False,
                                                            "message": "baseline has no matching samples for this eval"}]}
        checks.append(_regression_check(cmp, result["higher_is_better"], gate.max_regression))
    for c in checks:
        c["passed"] = bool(c["passed"])
    return {"status": "pass" if all(c["passed"] for c in checks) else "fail", "checks": checks}


def _regression_check(cmp: dict[str, Any], higher_is_better: bool, allowed: float) -> dict[str, Any]:
    """The message is the comparison that decided: the one-sided bound of the paired difference
    against the allowed regression (-allowed when higher is better, +allowed when lower is)."""
    bad = is_regression(cmp, higher_is_better, allowed)
    level = f"one-sided {1 - cmp['alpha']:.0%}"
    if higher_is_better:
        op, bound, limit = ("<" if bad else ">="), cmp["upper"], -allowed + 0.0  # + 0.0: never "-0.0000"
        side = "upper"
    else:
        op, bound, limit = (">" if bad else "<="), cmp["lower"], allowed
        side = "lower"
    msg = f"{side} bound {bound:+.4f} {op} {limit:+.4f} allowed regression (diff {cmp['diff']:+.4f}, {level})"
    return {"check": "max_regression", "passed": not bad, "message": msg}


def overall_verdict(verdicts: list[str]) -> str:
    if "error" in verdicts:
        return "error"
    return "fail" if "fail" in verdicts else "pass"
