"""summary.md: a table ready to paste as a pull-request comment."""

from __future__ import annotations

from typing import Any

from rlit.evaluation.results import SuiteResults

ICON = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error"}


def fmt(x: Any, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def interval(ci: Any) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "–"


def render_summary(results: SuiteResults) -> str:
    m = results.manifest
    model = m.get("model", {})
    lines = [
        f"## rlit evaluate: {results.suite.get('name')} — {ICON.get(results.verdict, results.verdict)}",
        "",
        f"Model `{model.get('name', '?')}` (sha256 `{model.get('sha256', '?')}`), rlit {m.get('rlit_version')}"
        + (f", baseline `{results.baseline}`" if results.baseline else ""),
        "",
        "| eval | score | 95% CI | n | vs baseline | gate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in results.evals.items():
        cmp = e.get("comparison") or {}
        delta = f"{fmt(cmp.get('diff'), True)} {interval(cmp.get('ci'))}" if cmp.get("diff") is not None else "–"
        gate = e.get("gate", {})
        arrow = "↑" if e.get("higher_is_better") else "↓"
        lines.append(f"| {name} {arrow if e.get('status') == 'ok' else ''} | {fmt(e.get('value'))} | {interval(e.get('ci'))} "
                     f"| {e.get('n_units', '–')} | {delta} | {ICON.get(gate.get('status'), '–')} |")
    problems = [(n, f"{c['check']}: {c['message']}") for n, e in results.evals.items() for c in e.get("gate", {}).get("checks", []) if not c["passed"]]
    if problems:
        lines += ["", "**Failed checks**", ""] + [f"- `{n}`: {msg}" for n, msg in problems]
    lines += ["", "<sub>↑ higher is better, ↓ lower is better. Intervals: percentile bootstrap over prompts; "
              "vs baseline: paired bootstrap on the shared prompts.</sub>", ""]
    return "\n".join(lines)
