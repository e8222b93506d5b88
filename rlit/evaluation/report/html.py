"""report.html: one self-contained page (inline CSS, plots as base64 PNG, no external requests)."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from rlit.evaluation.report.markdown import delta, fmt, gate_status, interval
from rlit.evaluation.report.sample_browser import CSS as BROWSER_CSS, browser_data, render_section
from rlit.evaluation.results import EvalResult, SuiteResults

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.pass{color:#17702b}.fail{color:#b00020}.error{color:#a15c00}img.plot{max-width:100%;display:block;margin:1em 0}
code{background:#f3f3f3;padding:1px 4px}"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _bar_plot(title: str, labels: list[str], values: list[float], lows: list[float] | None = None,
              highs: list[float] | None = None, zero_line: bool = False) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 0.45 * len(labels) + 1.2))
    ax = fig.add_subplot()
    ys = list(range(len(labels)))
    xerr = None
    if lows is not None and highs is not None:
        xerr = [[max(v - lo, 0) for v, lo in zip(values, lows)], [max(hi - v, 0) for v, hi in zip(values, highs)]]
    ax.barh(ys, values, xerr=xerr, color="#4a7ab5", capsize=3)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    if zero_line:
        ax.axvline(0, color="black", linewidth=0.8)
    ax.set_title(title)
    return _png(fig)


def _ci_end(e: EvalResult, i: int) -> float:
    return e.ci[i] if e.ci and e.ci[i] is not None else e.value


def _plots(results: SuiteResults) -> list[tuple[str, str]]:
    ok = [e for e in results.evals.values() if e.ok and e.value is not None]
    plots = []
    if ok:
        plots.append(("Scores with confidence intervals", _bar_plot(
            "Score per eval (bootstrap CI)", [e.name for e in ok], [e.value for e in ok],
            [_ci_end(e, 0) for e in ok], [_ci_end(e, 1) for e in ok])))
    cmp = [(e.name, e.comparison) for e in ok if e.comparison is not None and e.comparison.diff is not None]
    if cmp:
        plots.append(("Differences against the baseline", _bar_plot(
            "Current - baseline (paired bootstrap CI)", [n for n, _ in cmp], [c.diff for _, c in cmp],
            [c.ci[0] for _, c in cmp], [c.ci[1] for _, c in cmp], zero_line=True)))
    for e in ok:
        plots += _eval_plots(e)
    return plots


def _eval_plots(e: EvalResult) -> list[tuple[str, str]]:
    """One eval's breakdown (by instruction type, else by category) and per-source shares."""
    plots = []
    breakdown = e.breakdown or {}
    types = {k[5:]: v for k, v in breakdown.items() if k.startswith("type:")}
    cats = types or {k: v for k, v in breakdown.items() if ":" not in k}
    if cats and list(cats) != ["(all)"]:
        kind = "instruction type" if types else "category"
        plots.append((f"{e.name}: by {kind}", _bar_plot(f"{e.name} by {kind}", list(cats), [v.value for v in cats.values()])))
    sources = e.per_source or {}
    if len(sources) > 1:
        plots.append((f"{e.name}: per-source contributions", _bar_plot(
            f"{e.name}: share of the total per source", list(sources), [float(s.share or 0.0) for s in sources.values()])))
    return plots


def _eval_rows(results: SuiteResults) -> str:
    rows = []
    for e in results.evals.values():
        status = gate_status(e, "not gated")
        checks = "<br>".join(html.escape(("✔ " if c.passed else "✘ ") + c.message) for c in (e.gate.checks if e.gate else []))
        n = "–" if e.n_units is None else str(e.n_units)
        rows.append(f"<tr><td><code>{html.escape(e.name)}</code></td><td>{fmt(e.value)}</td>"
                    f"<td>{interval(e.ci)}</td><td>{html.escape(n)}</td><td>{delta(e.comparison)}</td>"
                    f"<td class='{html.escape(status)}'><b>{html.escape(status.upper())}</b></td><td>{checks}</td></tr>")
    return "\n".join(rows)


def _source_rows(results: SuiteResults) -> str:
    rows = []
    for e in results.evals.values():
        for name, s in (e.per_source or {}).items():
            rows.append(f"<tr><td><code>{html.escape(e.name)}</code></td><td>{html.escape(name)}</td>"
                        f"<td>{fmt(s.mean)}</td><td>{fmt(s.std)}</td><td>{fmt(s.weight)}</td><td>{fmt(s.share)}</td></tr>")
    return "\n".join(rows)


def render_html(results: SuiteResults, baseline: SuiteResults | None = None,
                samples: dict[str, Any] | None = None) -> str:
    """The page; ``samples`` is :func:`sample_browser.browser_data` (else built from results.json alone)."""
    if samples is None:
        samples = browser_data(results, None, baseline)
    m = results.manifest
    model = m.get("model", {})
    plots = "\n".join(f"<h3>{html.escape(t)}</h3><img class='plot' alt='{html.escape(t)}' src='data:image/png;base64,{p}'>"
                      for t, p in _plots(results))
    manifest = html.escape(json.dumps(m, indent=1, default=str))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rlit report: {html.escape(str(results.suite.get('name')))}</title>
<style>{CSS}
{BROWSER_CSS}</style></head><body>
<h1>rlit evaluate: {html.escape(str(results.suite.get('name')))}</h1>
<p id="verdict" class="{html.escape(results.verdict)}">Verdict: <b>{html.escape(results.verdict.upper())}</b></p>
<p>Model <code>{html.escape(str(model.get('name', '?')))}</code> (sha256 <code>{html.escape(str(model.get('sha256', '?')))}</code>);
baseline: <code>{html.escape(str(results.baseline or 'none'))}</code></p>
<h2>Evals</h2>
<table id="evals"><tr><th>eval</th><th>score</th><th>CI</th><th>n</th><th>vs baseline</th><th>gate</th><th>checks</th></tr>
{_eval_rows(results)}</table>
<h2>Per-source contributions</h2>
<table id="sources"><tr><th>eval</th><th>source</th><th>mean</th><th>std</th><th>weight</th><th>share</th></tr>
{_source_rows(results)}</table>
<h2>Plots</h2>
{plots}
{render_section(samples)}
<h2>Manifest</h2><pre id="manifest">{manifest}</pre>
</body></html>
"""
