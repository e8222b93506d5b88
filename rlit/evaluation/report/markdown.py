"""summary.md: a table ready to paste as a pull-request comment."""

from __future__ import annotations

from typing import Any

from rlit.evaluation.results import Comparison, EvalResult, SuiteResults

ICON = {"pass": "✅ pass", "fail": "❌ fail", "error": "⚠️ error", "interrupted": "⏹ interrupted (not gated)",
        "incomplete": "⏳ incomplete (not gated)"}

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|~#"})


def md(x: Any) -> str:
    """Text from a suite, a model name or an error as inert Markdown: one line, HTML and Markdown
    special characters escaped, so a name cannot break the table, inject a link or raw HTML."""
    text = " ".join(str(x).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.translate(_MD_SPECIAL)


def fmt(x: Any, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "–"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def interval(ci: Any) -> str:
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "–"


def delta(cmp: Comparison | None, none: str = "–") -> str:
    """A comparison as ``+diff [lo, hi]``; ``none`` without one."""
    return f"{fmt(cmp.diff, True)} {interval(cmp.ci)}" if cmp is not None and cmp.diff is not None else none


def gate_status(e: EvalResult, default: str | None = None) -> str | None:
    return e.gate.status if e.gate is not None else default


def render_summary(results: SuiteResults) -> str:
    m = results.manifest
    model = m.get("model", {})
    lines = [
        f"## rlit evaluate: {md(results.suite.get('name'))} — {ICON.get(results.verdict, md(results.verdict))}",
        "",
        f"Model {md(model.get('name', '?'))} (sha256 {md(model.get('sha256', '?'))}), rlit {md(m.get('rlit_version'))}"
        + (f", baseline {md(results.baseline)}" if results.baseline else ""),
        "",
        "| eval | score | 95% CI | n | vs baseline | gate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, e in results.evals.items():
        arrow = "↑" if e.higher_is_better else "↓"
        n = "–" if e.n_units is None else e.n_units
        lines.append(f"| {md(name)} {arrow if e.ok else ''} | {fmt(e.value)} | {interval(e.ci)} "
                     f"| {md(n)} | {delta(e.comparison)} | {ICON.get(gate_status(e), '–')} |")
    problems = [(n, c.check, c.message) for n, e in results.evals.items() if e.gate for c in e.gate.failed]
    if problems:
        lines += ["", "**Failed checks**", ""] + [f"- {md(n)}: {check}: {md(msg)}" for n, check, msg in problems]
    if results.verdict == "interrupted":
        lines += ["", f"**Interrupted** after {len(results.evals)} eval(s); no gate was applied."]
    lines += ["", "<sub>↑ higher is better, ↓ lower is better. Intervals: percentile bootstrap over prompts; "
              "vs baseline: paired bootstrap on the shared prompts.</sub>", ""]
    return "\n".join(lines)
