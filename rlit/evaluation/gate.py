"""The release gate: absolute thresholds plus a paired regression test against a baseline run.

Per eval the verdict is ``pass``, ``fail`` or ``error`` (the eval could not be computed, or a
baseline comparison was asked for and is impossible); overall: error > fail > pass.
"""

from __future__ import annotations

import math

from rlit.evaluation.results import Check, Comparison, EvalResult, GateVerdict, SuiteResults
from rlit.evaluation.stats import is_regression, paired_difference
from rlit.evaluation.suite import GateSpec, Suite


def apply_gates(results: SuiteResults, suite: Suite, baseline: SuiteResults | None = None,
                baseline_name: str | None = None) -> str:
    """(Re)compute comparisons and gate verdicts for every eval of ``suite`` in ``results``;
    returns (and sets) the overall verdict."""
    results.baseline = baseline_name if baseline is not None else None
    verdicts = []
    for spec in suite.evals:
        res = results.evals.get(spec.name)
        if res is None:
            res = results.evals[spec.name] = EvalResult(name=spec.name, status="error", error="not in the results file")
        base = baseline.evals.get(spec.name) if baseline is not None else None
        res.comparison = compare_eval(res, base, spec.gate.alpha, suite.bootstrap, suite.confidence, suite.seed)
        res.gate_spec = spec.gate.model_dump()
        res.gate = gate_eval(res, spec.gate, baseline is not None)
        verdicts.append(res.gate.status)
    results.verdict = overall_verdict(verdicts)
    return results.verdict


def compare_eval(current: EvalResult, baseline: EvalResult | None, alpha: float, n_resamples: int,
                 confidence: float, seed: int) -> Comparison | None:
    """The paired comparison of one eval's stored units with the baseline's (None without baseline)."""
    if baseline is None or not current.ok or not baseline.ok:
        return None
    return paired_difference(current.units, baseline.units, current.stat, n_resamples, confidence, alpha, seed)


def gate_eval(result: EvalResult, gate: GateSpec, has_baseline: bool) -> GateVerdict:
    """Checks and verdict for one eval result."""
    if not result.ok:
        return _error(result.error or "not computed")
    value, checks = result.value, []
    if value is None or math.isnan(value):
        return _error("no sample could be scored")
    if gate.min is not None:
        ok = value >= gate.min
        checks.append(Check(check="min", passed=ok, message=f"{value:.4f} {'>=' if ok else '<'} min {gate.min}"))
    if gate.max is not None:
        ok = value <= gate.max
        checks.append(Check(check="max", passed=ok, message=f"{value:.4f} {'<=' if ok else '>'} max {gate.max}"))
    if gate.max_regression is not None and has_baseline:
        cmp = result.comparison
        if cmp is None or cmp.diff is None:
            return GateVerdict(status="error", checks=checks + [Check(check="max_regression", passed=False,
                                                                      message="baseline has no matching samples for this eval")])
        checks.append(_regression_check(cmp, result.higher_is_better, gate.max_regression))
    return GateVerdict(status="pass" if all(c.passed for c in checks) else "fail", checks=checks)


def _error(message: str) -> GateVerdict:
    return GateVerdict(status="error", checks=[Check(check="evaluate", passed=False, message=message)])


def _regression_check(cmp: Comparison, higher_is_better: bool, allowed: float) -> Check:
    """The message is the comparison that decided: the one-sided bound of the paired difference
    against the allowed regression (-allowed when higher is better, +allowed when lower is)."""
    bad = is_regression(cmp, higher_is_better, allowed)
    level = f"one-sided {1 - cmp.alpha:.0%}"
    if higher_is_better:
        op, bound, limit = ("<" if bad else ">="), cmp.upper, -allowed + 0.0  # + 0.0: never "-0.0000"
        side = "upper"
    else:
        op, bound, limit = (">" if bad else "<="), cmp.lower, allowed
        side = "lower"
    msg = f"{side} bound {bound:+.4f} {op} {limit:+.4f} allowed regression (diff {cmp.diff:+.4f}, {level})"
    return Check(check="max_regression", passed=not bad, message=msg)


def overall_verdict(verdicts: list[str]) -> str:
    if "error" in verdicts:
        return "error"
    return "fail" if "fail" in verdicts else "pass"
