"""Writers for a run's outputs: results.json, summary.md, junit.xml, report.html."""

from __future__ import annotations

from pathlib import Path

from rlit.atomic import write_text

from rlit.evaluation.report.html import render_html
from rlit.evaluation.report.junit import render_junit
from rlit.evaluation.report.markdown import render_summary
from rlit.evaluation.results import SuiteResults


def write_reports(results: SuiteResults, out_dir: str | Path, baseline: SuiteResults | None = None) -> dict[str, Path]:
    """Write all four files into ``out_dir``, each atomically; returns their paths by kind."""
    out = Path(out_dir)
    paths = {"results": results.save(out / "results.json")}
    for kind, name, render in (("summary", "summary.md", lambda: render_summary(results)),
                               ("junit", "junit.xml", lambda: render_junit(results)),
                               ("html", "report.html", lambda: render_html(results, baseline))):
        paths[kind] = out / name
        write_text(paths[kind], render())
    return paths


__all__ = ["write_reports", "render_summary", "render_junit", "render_html"]
