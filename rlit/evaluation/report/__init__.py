"""Writers for a run's outputs: results.json, summary.md, junit.xml, report.html."""

from __future__ import annotations

from pathlib import Path

from rlit.atomic import write_text

from rlit.evaluation.report.html import render_html
from rlit.evaluation.report.junit import render_junit
from rlit.evaluation.report.markdown import render_summary
from rlit.evaluation.report.sample_browser import baseline_folder, browser_data
from rlit.evaluation.results import SuiteResults


def write_reports(results: SuiteResults, out_dir: str | Path, baseline: SuiteResults | None = None,
                  baseline_dir: str | Path | None = None) -> dict[str, Path]:
    """Write all four files into ``out_dir``, each atomically; returns their paths by kind.

    report.html's sample browser reads ``samples_<eval>.jsonl`` from ``out_dir`` and the baseline's
    from ``baseline_dir`` (default: the folder of the results file named in ``results.baseline``),
    falling back to the completions in results.json."""
    out = Path(out_dir)
    base_dir = baseline_dir if baseline_dir is not None else baseline_folder(results)
    samples = browser_data(results, out, baseline, base_dir)
    paths = {"results": results.save(out / "results.json")}
    for kind, name, render in (("summary", "summary.md", lambda: render_summary(results)),
                               ("junit", "junit.xml", lambda: render_junit(results)),
                               ("html", "report.html", lambda: render_html(results, baseline, samples))):
        paths[kind] = out / name
        write_text(paths[kind], render())
    return paths


__all__ = ["write_reports", "render_summary", "render_junit", "render_html"]
