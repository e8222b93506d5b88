"""`rlit pipeline`: SFT -> preference pairs -> reward model -> PPO, evaluated before and after."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from rlit.cli.app import app, console, log_line
from rlit.cli.train_trl import SetOption
from rlit.evaluation.results import SuiteSummary


@app.command("pipeline")
def pipeline_command(
    config: Path = typer.Option(..., "--config", "-c", help="Pipeline TOML (see docs/pipeline.md)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (overrides out_dir); a re-run resumes it."),
    accept_config_change: bool = typer.Option(False, "--accept-config-change",
                                              help="Resume the PPO stage even though its config differs from its checkpoint's (recorded)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0,
                                       help="The draw's seed (overrides the top-level `seed`): every stage that sets no seed of its own uses it."),
    sets: list[str] = SetOption,
) -> None:
    """Run the whole pipeline; print the before/after table of the held-out evaluation."""
    from rlit.pipeline import Pipeline, load_pipeline_config

    cfg = load_pipeline_config(config, sets)
    if out is not None:
        cfg.out_dir = str(out)
    if seed is not None:  # read when each stage's config is built, so setting it here reaches them all
        cfg.seed = seed
    summary = Pipeline(cfg, log=log_line, accept_config_change=accept_config_change).run()
    if summary["before"] and summary["after"]:
        console.print(before_after_table(SuiteSummary.model_validate(summary["before"]), SuiteSummary.model_validate(summary["after"])))
    report = f"; report: {Path(cfg.out_dir) / 'eval-after' / 'report.html'}" if cfg.heldout else ""
    console.print(f"pipeline finished in {summary['seconds']:.0f}s; model: {summary['model']}{report}")


def before_after_table(before: SuiteSummary, after: SuiteSummary) -> Table:
    table = Table("eval", "before PPO", "after PPO", "gain", "95% paired CI", title="held-out evaluation")
    for name, value in after.values.items():
        cmp = after.comparison.get(name)
        old = before.values.get(name)
        ci = "[{:+.3f}, {:+.3f}]".format(*cmp.ci) if cmp is not None and cmp.ci else "-"
        gain = f"{value - old:+.3f}" if value is not None and old is not None else "-"
        table.add_row(name, _fmt(old), _fmt(value), gain, ci)
    return table


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
