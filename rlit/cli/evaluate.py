"""`rlit evaluate`, `rlit gate`, `rlit compare`: thin wrappers over rlit.evaluation."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from rlit.atomic import check_writable, refuse_same_file
from rlit.cli.app import app, console, err_console
from rlit.errors import DataError
from rlit.evaluation import evaluate, load_suite
from rlit.evaluation.gate import apply_gates
from rlit.evaluation.report import write_reports
from rlit.evaluation.report.markdown import ICON, delta, fmt, gate_status, interval
from rlit.evaluation.results import SuiteResults
from rlit.evaluation.stats import paired_difference


def _print_results(results: SuiteResults) -> None:
    # Names and messages come from files: escaped, so '[' in them is text, not Rich markup.
    table = Table("eval", "score", "CI", "n", "vs baseline", "gate", title=escape(f"{results.suite.get('name')}: {results.verdict}"))
    for name, e in results.evals.items():
        status = gate_status(e, "error")
        n = "-" if e.n_units is None else str(e.n_units)
        table.add_row(escape(name), fmt(e.value), interval(e.ci), escape(n), delta(e.comparison, "-"),
                      ICON.get(status, escape(str(status))))
    console.print(table)
    for name, e in results.evals.items():
        for c in e.gate.failed if e.gate else []:
            err_console.print(f"[red]{escape(name)}[/]: {escape(c.message)}", highlight=False)


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Warnings of the run (a damaged cache line skipped, a source skipped under on_error = "skip")
    as plain lines on stderr while the command runs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    loggers = [logging.getLogger(n) for n in ("rlit.evaluation", "rlit.rewards")]
    saved = [lg.propagate for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, prop in zip(loggers, saved):
            lg.removeHandler(handler)
            lg.propagate = prop


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Option(..., "--model", help="Model folder, hub id or builtin:smollm2-135m-instruct / builtin:tiny-gpt2."),
    suite: Path = typer.Option(..., "--suite", help="Suite TOML (e.g. evals/release.toml)."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="results.json of the run to compare against."),
    out: Path = typer.Option(Path("rlit-eval"), "--out", help="Output folder: results.json, summary.md, junit.xml, report.html."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use at most N prompts per eval (whole counterfactual groups, every category)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, cuda:1... (default: cuda if available)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Generation/score cache (default $RLIT_CACHE_DIR or ~/.cache/rlit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the on-disk cache."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", min=1, help="Override every eval's max_new_tokens (quick checks)."),
    trust_code: bool = typer.Option(False, "--trust-code", help="Let lm-eval task YAMLs run the Python their !function tags name."),
    evals: Optional[str] = typer.Option(None, "--evals", help="Run only these evals of the suite: NAME[,NAME...]."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Override every eval's generation batch_size."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override every eval's generation seed (sample i uses seed + i)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="float32, bfloat16, float16 or auto (bf16 on a GPU that supports it, else float32); default: the suite's dtype, float32."),
    model_args: Optional[str] = typer.Option(None, "--model-args", help="from_pretrained keywords, key=value,... (revision, device_map, attn_implementation, subfolder, variant, use_safetensors, low_cpu_mem_usage, local_files_only)."),
    log_samples: bool = typer.Option(True, "--log-samples/--no-log-samples", help="Write samples_<eval>.jsonl (prompt, completion, per-source scores) beside results.json."),
) -> None:
    """Run a suite on a model; exit 0 if every gate passes, 1 if a gate failed, 2 if it could not evaluate."""
    cache: object = None if no_cache else (cache_dir or "default")
    with _warnings_to_stderr():
        results = evaluate(suite, model, baseline=baseline, out_dir=out, limit=limit, device=device, cache_dir=cache,
                           max_new_tokens=max_new_tokens, trust_code=trust_code, evals=evals, batch_size=batch_size,
                           seed=seed, dtype=dtype, model_args=model_args, log_samples=log_samples)
    _print_results(results)
    counts = results.manifest.get("cache", {})
    gen, sc = counts.get("generations", {}), counts.get("scores", {})
    err_console.print(f"generations: {gen.get('computed', 0)} computed, {gen.get('cached', 0)} from cache; "
                  f"scores: {sc.get('computed', 0)} computed, {sc.get('cached', 0)} from cache", highlight=False)
    samples = ", samples_<eval>.jsonl" if log_samples else ""
    console.print(f"reports in {out}/ (results.json, summary.md, junit.xml, report.html{samples})", highlight=False, markup=False, soft_wrap=True)
    results.raise_for_verdict()


@app.command("gate")
def gate_command(
    results_file: Path = typer.Argument(..., help="results.json from rlit evaluate."),
    suite: Path = typer.Option(..., "--suite", help="Suite TOML whose gates to apply."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="results.json to compare against."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write re-gated reports into this folder."),
) -> None:
    """Re-gate stored results without generating; same exit codes as evaluate."""
    if out:  # before reading anything: an unwritable --out fails first, and never overwrites an input
        check_writable(out, "--out", folder=True)
        refuse_same_file({"RESULTS_FILE": results_file, "--baseline": baseline}, {"--out": out / "results.json"})
    results = SuiteResults.load(results_file)
    base = SuiteResults.load(baseline) if baseline else None
    apply_gates(results, load_suite(suite), base, str(baseline) if baseline else None)
    if out:
        write_reports(results, out, base)
    _print_results(results)
    results.raise_for_verdict()


@app.command("compare")
def compare_command(
    a: Path = typer.Argument(..., help="results.json of the candidate."),
    b: Path = typer.Argument(..., help="results.json of the reference (baseline)."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999, help="Two-sided confidence of the intervals."),
    resamples: int = typer.Option(2000, "--resamples", min=100, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
) -> None:
    """Paired differences A - B with bootstrap intervals, on the prompts both runs share."""
    ra, rb = SuiteResults.load(a), SuiteResults.load(b)
    only_a, only_b = sorted(set(ra.evals) - set(rb.evals)), sorted(set(rb.evals) - set(ra.evals))
    for path, names in ((a, only_a), (b, only_b)):
        if names:
            err_console.print(f"only in {path}: {', '.join(names)}", highlight=False, markup=False)
    both = [n for n in ra.evals if n in rb.evals]
    ok = [n for n in both if ra.evals[n].ok and rb.evals[n].ok]
    if not ok:
        why = "no eval in common" if not both else f"no eval computed in both (errors in: {', '.join(both)})"
        raise DataError(f"{a} vs {b}: nothing to compare: {why}")
    table = Table("eval", "A", "B", "A - B", f"{confidence:.0%} CI", "pairs", title=escape(f"{a} vs {b}"))
    for name in both:
        ea, eb = ra.evals[name], rb.evals[name]
        if name not in ok:
            table.add_row(escape(name), fmt(ea.value), fmt(eb.value), "-", "-", "0")
            continue
        cmp = paired_difference(ea.units, eb.units, ea.stat, resamples, confidence, 0.05, seed)
        table.add_row(escape(name), fmt(ea.value), fmt(eb.value), fmt(cmp.diff, True), interval(cmp.ci), str(cmp.n_pairs))
    console.print(table)
