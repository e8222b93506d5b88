"""Writers for a run's outputs: results.json, summary.md, junit.xml, report.html."""

from __future__ import annotations

from pathlib import Path

from rlit.evaluation.report.html import render_html
from rlit.evaluation.report.junit import render_junit
from rlit.evaluation.report.markdown import render_summary
from rlit.evaluation.results import SuiteResults


def write_reports(results: SuiteResults, out_dir: str | Path, baseline: SuiteResults | None = None) -> dict[str, Path]:
    """Write all four files into ``out_dir``; returns their paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": results.save(out / "results.json")}
    paths["summary"] = out / "summary.md"
    paths["summary"].write_text(render_summary(results))
    paths["junit"] = out / "junit.xml"
    paths["junit"].write_text(render_junit(results))
    paths["html"] = out / "report.html"
    paths["html"].write_text(render_html(results, baseline))
    return paths


__all__ = ["write_reports", "render_summary", "render_junit", "render_html"]
