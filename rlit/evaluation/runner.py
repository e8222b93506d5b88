"""``evaluate()``: run a suite on a model, score, compare with a baseline, gate, write reports.

Python use (the trainer calls this on its validation split)::

    from rlit.evaluation import evaluate
    res = evaluate("evals/validation.toml", model=model, tokenizer=tok, limit=50, progress=False)
    res.values["ifeval-validation"], res.verdict          # "pass" | "fail" | "error"

An eval that cannot be computed (missing data, broken plugin) is recorded as an error and the
others still run; with ``out_dir`` the results are written after every eval, so nothing already
computed is lost. An interrupted run (Ctrl-C, SIGTERM) writes its finished evals with verdict
``interrupted`` and no gate, then re-raises: an interrupted run never reads as a pass.
"""

from __future__ import annotations

import math
import platform
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from rlit import interrupts
from rlit.atomic import check_writable, refuse_same_file
from rlit.errors import ConfigError, RlitError
from rlit.evaluation.cache import JsonlCache, default_cache_dir
from rlit.evaluation.generation import LoadedModel, generate, generation_cache, load_model, prompt_format
from rlit.evaluation.lm_eval_tasks import check_task, run_lm_eval, trusting_code
from rlit.evaluation.metrics import Aggregate, Scorer, aggregate
from rlit.evaluation.prompts import columns_of, load_prompt_set
from rlit.evaluation.results import SuiteResults
from rlit.evaluation.stats import bootstrap_ci
from rlit.evaluation.suite import EvalSpec, Suite, load_suite
from rlit.models import check_device


class _Context:
    """What every eval of one run shares: the model (loaded once, lazily), caches, progress."""

    def __init__(self, model: Any, tokenizer: Any, device: str | None, cache_root: Path | None, progress: Any):
        self._spec = (model, tokenizer, device)
        self._lm: LoadedModel | None = None
        self._error: RlitError | None = None
        self.cache_root = cache_root
        self.progress = progress
        self._caches: dict[str, JsonlCache] = {}
        # What this run computed and what it took from the caches (printed, and in the manifest).
        self.counts = {"generations": {"computed": 0, "cached": 0}, "scores": {"computed": 0, "cached": 0}}

    def count(self, kind: str, cache: JsonlCache, stored_before: int, total: int, per_put: int = 1) -> None:
        computed = min(total, (cache.stored - stored_before) * per_put)
        self.counts[kind]["computed"] += computed
        self.counts[kind]["cached"] += total - computed

    def cache(self, make: Any) -> JsonlCache:
        """One cache object per namespace for the whole run, so evals that share prompts and
        settings share generations even when nothing is written to disk."""
        fresh = make()
        key = str(fresh.path) if fresh.path else repr(fresh.namespace)
        return self._caches.setdefault(key, fresh)

    def lm(self) -> LoadedModel:
        if self._error is not None:
            raise self._error
        if self._lm is None:
            model, tok, device = self._spec
            if model is None:
                self._error = ConfigError("no model given (evaluate(model=...) / --model)")
                raise self._error
            try:
                self._lm = load_model(model, tok, device)
            except RlitError as exc:
                self._error = exc
                raise
            except Exception as exc:  # a broken folder or weights file: exit 2 naming the model, not a traceback
                self._error = ConfigError(f"cannot load model {model!r}: {type(exc).__name__}: {exc}".splitlines()[0])
                raise self._error from None
        return self._lm


def evaluate(
    suite: str | Path | Suite,
    model: Any = None,
    tokenizer: Any = None,
    *,
    baseline: str | Path | SuiteResults | None = None,
    out_dir: str | Path | None = None,
    limit: int | None = None,
    device: str | None = None,
    cache_dir: str | Path | None = "default",
    progress: bool = True,
    max_new_tokens: int | None = None,
    trust_code: bool = False,
) -> SuiteResults:
    """Run every eval of ``suite`` on ``model`` (a name/path/``builtin:...``, or a model object plus
    ``tokenizer``) and gate the results. Never raises for a failed gate: check ``.verdict`` or call
    ``.raise_for_verdict()``. ``cache_dir=None`` keeps caches in memory only. ``limit`` and
    ``max_new_tokens`` shrink every eval (quick checks); both are recorded in the manifest.
    ``trust_code`` lets lm-eval task YAMLs run the Python their ``!function`` tags name.

    Inputs and outputs are checked before any model loads: a bad option, device, baseline or
    unwritable ``out_dir`` is an RlitError at once, not after the generations."""
    suite = _prepare_suite(suite, limit, max_new_tokens, trust_code)
    out = Path(out_dir) if out_dir else None
    if out is not None:
        check_writable(out, "--out", folder=True)
        refuse_same_file({"--baseline": baseline if isinstance(baseline, (str, Path)) else None},
                         {"--out": out / "results.json"})
    if isinstance(model, (str, Path)):
        device = check_device(device)
    base = SuiteResults.load(baseline) if isinstance(baseline, (str, Path)) else baseline
    cache_root = default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
    if cache_root is not None:
        check_writable(cache_root, "--cache-dir", folder=True)
    results = SuiteResults({"name": suite.name, "path": suite.path, "sha256": suite.sha256}, _manifest(suite, limit))
    results.manifest["max_new_tokens_override"] = max_new_tokens
    results.verdict = "incomplete"  # what results.json says while evals run (or if the process is killed)
    bars = _progress_bars() if progress else None
    ctx = _Context(model, tokenizer, device, cache_root, bars)
    where = f"{out}/results.json" if out else "the returned results"
    resume = ("generations and scores are cached, so rerunning the same command resumes" if cache_root is not None
              else "nothing was cached (--no-cache): a rerun starts again")
    with interrupts.keeping(f"evals finished so far are in {where}; {resume}"), trusting_code(trust_code):
        try:
            with bars or nullcontext():
                for spec in suite.evals:
                    results.evals[spec.name] = _run_one(spec, ctx, suite, limit)
                    _record_run(results, ctx)
                    if out:
                        results.save(out / "results.json")  # partial results survive a later crash
        except BaseException as exc:
            _unfinished(results, ctx, out, "interrupted" if isinstance(exc, KeyboardInterrupt) else "error")
            raise
    _finish(results, suite, ctx, base, baseline, out)
    return results


def _prepare_suite(suite: str | Path | Suite, limit: int | None, max_new_tokens: int | None, trust_code: bool) -> Suite:
    for name, value in (("--limit", limit), ("--max-new-tokens", max_new_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    if not suite.evals:
        raise ConfigError(f"{suite.path or suite.name}: no evals to run")
    evals = []
    for e in suite.evals:
        update: dict[str, Any] = {}
        if max_new_tokens is not None:
            update["generation"] = e.generation.model_copy(update={"max_new_tokens": max_new_tokens})
        if trust_code and e.lm_eval is not None:
            update["lm_eval"] = e.lm_eval.model_copy(update={"trust_code": True})
        evals.append(e.model_copy(update=update) if update else e)
    return suite.model_copy(update={"evals": evals})


def _record_run(results: SuiteResults, ctx: _Context) -> None:
    results.manifest["cache"] = ctx.counts
    if ctx._lm is not None:
        results.manifest["model"] = {"name": ctx._lm.name, "sha256": ctx._lm.fingerprint, "device": ctx._lm.device}


def _unfinished(results: SuiteResults, ctx: _Context, out: Path | None, verdict: str) -> None:
    """An interrupt or a crash: keep the finished evals, with no gate and no pass/fail verdict."""
    _record_run(results, ctx)
    results.verdict = verdict
    if out:
        from rlit.evaluation.report import write_reports

        write_reports(results, out, None)


def _finish(results: SuiteResults, suite: Suite, ctx: _Context, base: SuiteResults | None, baseline: Any, out: Path | None) -> None:
    _record_run(results, ctx)
    name = str(baseline) if isinstance(baseline, (str, Path)) else "in-memory results"
    results.apply_gates(suite, base, name if base is not None else None)
    if out:
        from rlit.evaluation.report import write_reports

        write_reports(results, out, base)


def _run_one(spec: EvalSpec, ctx: _Context, suite: Suite, limit: int | None) -> dict[str, Any]:
    """One eval's record; an RlitError becomes an ``error`` record naming the eval (the others run on)."""
    start = time.perf_counter()
    record: dict[str, Any] = {"name": spec.name, "description": spec.description, "status": "ok"}
    try:
        if spec.lm_eval is not None:
            record.update(_run_lm_eval(spec, ctx, limit))
        else:
            record.update(_run_generate(spec, ctx, limit, f"{suite.path}: evals ({spec.name!r}).metric"))
        ci = bootstrap_ci([u["value"] for u in record["units"]], [u["weight"] for u in record["units"]],
                          record["stat"], suite.bootstrap, suite.confidence, suite.seed)
        record["ci"] = list(ci)
    except RlitError as exc:
        record.update(status="error", error=str(exc), error_type=type(exc).__name__)
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def _run_generate(spec: EvalSpec, ctx: _Context, limit: int | None, origin: str) -> dict[str, Any]:
    n = min(x for x in (spec.limit, limit) if x) if (spec.limit or limit) else None
    agg_spec = spec.aggregate
    prompts = load_prompt_set(spec.prompts, spec.base_dir, n, group=agg_spec.group, by=agg_spec.by,
                              groups_only=agg_spec.method == "group_gap")
    need_details = agg_spec.method in ("prompt_level", "instruction_level")
    scorer = Scorer(spec.metric, spec.base_dir, need_details, origin)
    lm = ctx.lm()
    gen = spec.generation
    texts = [r["prompt"] for r in prompts.rows]
    task = ctx.progress.add_task(f"{spec.name}: generate", total=len(texts) * gen.samples) if ctx.progress else None
    gen_cache = ctx.cache(lambda: generation_cache(ctx.cache_root, lm, gen))
    before = gen_cache.stored
    completions = generate(lm, texts, gen, gen_cache,
                           progress=(lambda k: ctx.progress.advance(task, k)) if task is not None else None)
    ctx.count("generations", gen_cache, before, len(texts) * gen.samples)
    flat_prompts = [t for t in texts for _ in range(gen.samples)]
    flat = [c for row in completions for c in row]
    cols = {k: [v for v in vals for _ in range(gen.samples)] for k, vals in columns_of(prompts.rows).items()}
    score_cache = ctx.cache(lambda: scorer.cache(ctx.cache_root))
    before = score_cache.stored
    scored = scorer.score(flat_prompts, flat, cols, score_cache)
    ctx.count("scores", score_cache, before, len(flat), per_put=len(flat))
    agg = aggregate(agg_spec, prompts.rows, scored, gen.samples)
    return {
        "kind": "generate", "prompts": {"source": prompts.source, "sha256": prompts.sha256, "n": len(texts),
                                        "selection": prompts.selection},
        "generation": {**gen.model_dump(), "prompt_format": prompt_format(lm.tokenizer, gen)},
        "metric": {**spec.metric.model_dump(exclude_none=True), "plugins": scorer.plugins},
        "aggregate": agg_spec.model_dump(), **_agg_fields(agg),
        "per_source": _per_source(scored), "completions": [
            {"key": r["key"], "prompt": r["prompt"], "completions": c} for r, c in zip(prompts.rows, completions)],
    }


def _run_lm_eval(spec: EvalSpec, ctx: _Context, limit: int | None) -> dict[str, Any]:
    n = min(x for x in (spec.limit, limit) if x) if (spec.limit or limit) else None
    check_task(spec.lm_eval, Path(spec.base_dir))
    lm = ctx.lm()
    out = run_lm_eval(spec.lm_eval, lm.model, lm.tokenizer, Path(spec.base_dir), n)
    units = out["units"]
    mean = sum(u["value"] for u in units) / len(units)
    if spec.lm_eval.target is not None:
        stat, value, higher = f"distance:{spec.lm_eval.target}", abs(mean - spec.lm_eval.target), False
    else:
        stat, value, higher = "mean", mean, True
    cats: dict[str, list[float]] = {}
    for u in units:
        cats.setdefault(u["category"] or "(all)", []).append(u["value"])
    return {"kind": "lm_eval", "lm_eval": {**spec.lm_eval.model_dump(), "version": out["lm_eval_version"]},
            "prompts": {"source": spec.lm_eval.task, "sha256": out["data_sha256"], "n": len(units),
                        "selection": out.get("selection")},
            "aggregate": {"method": "mean"}, "stat": stat, "value": value, "higher_is_better": higher,
            "raw_value": sum(u["value"] for u in units) / len(units), "n_units": len(units), "n_unscored": 0,
            "breakdown": {c: {"value": sum(v) / len(v), "n": len(v)} for c, v in sorted(cats.items())},
            "units": units, "per_source": {}}


def _agg_fields(agg: Aggregate) -> dict[str, Any]:
    return {"stat": agg.stat, "value": agg.value, "higher_is_better": agg.higher_is_better, "n_units": len(agg.units),
            "n_unscored": agg.n_unscored, "breakdown": agg.breakdown, "units": agg.units}


def _per_source(scored: Any) -> dict[str, dict[str, float]]:
    """Each source's mean/std (and, for composites, weight and share of the total) for the report."""
    if scored.source_stats:
        return scored.source_stats
    out = {}
    for name, vals in scored.per_source.items():
        ok = [v for v in vals if not math.isnan(v)]
        mean = sum(ok) / len(ok) if ok else float("nan")
        std = (sum((v - mean) ** 2 for v in ok) / len(ok)) ** 0.5 if ok else float("nan")
        out[name] = {"mean": mean, "std": std, "n_scored": len(ok), "weight": 1.0, "share": 1.0}
    return out


def _manifest(suite: Suite, limit: int | None) -> dict[str, Any]:
    from rlit import __version__
    from rlit.plugins import get_registry

    reg = get_registry()
    versions = {}
    for dist in ("torch", "transformers", "lm-eval", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "rlit_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "packages": versions, "limit": limit,
        "suite": {"path": suite.path, "sha256": suite.sha256},
        "seeds": {"bootstrap": suite.seed, **{e.name: e.generation.seed for e in suite.evals}},
        "plugins": {p.name: {"distribution": p.distribution, "version": p.version} for p in reg.plugins.values()},
        "plugin_failures": [vars(f) for f in reg.failures],
    }


def _progress_bars() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True))
