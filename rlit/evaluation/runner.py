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

import platform
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rlit import interrupts
from rlit.atomic import check_writable, refuse_same_file
from rlit.configfile import did_you_mean
from rlit.devices import DTYPES, check_device
from rlit.errors import ConfigError, RlitError
from rlit.evaluation.gate import apply_gates
from rlit.evaluation.lm_eval_tasks import check_task, run_lm_eval, trusting_code
from rlit.evaluation.metrics import Aggregate, Scorer, aggregate
from rlit.evaluation.prompts import columns_of, load_prompt_set
from rlit.evaluation.report import write_reports
from rlit.evaluation.results import EvalResult, SuiteResults, Unit, write_samples
from rlit.evaluation.stats import bootstrap_ci, mean_std
from rlit.evaluation.suite import EvalSpec, Suite, load_suite, parse_model_args
from rlit.lm.cache import JsonlCache, default_cache_dir
from rlit.lm.generation import LoadedModel, generate, generation_cache, load_model, prompt_format
from rlit.plugins import get_registry
from rlit.version import __version__


class _Context:
    """What every eval of one run shares: the model (loaded once, lazily), caches, progress."""

    def __init__(self, model: Any, tokenizer: Any, device: str | None, cache_root: Path | None, progress: Any,
                 dtype: str = "float32", model_args: dict[str, Any] | None = None):
        self._spec = (model, tokenizer, device)
        self._load = {"dtype": dtype, "model_args": model_args or {}}
        self._lm: LoadedModel | None = None
        self._error: RlitError | None = None
        self.cache_root = cache_root
        self.progress = progress
        self._caches: dict[str, JsonlCache] = {}
        # What this run computed and what it took from the caches (printed, and in the manifest).
        self.counts = {"generations": {"computed": 0, "cached": 0}, "scores": {"computed": 0, "cached": 0}}

    def count(self, kind: str, cache: JsonlCache, stored_before: int, total: int) -> None:
        computed = min(total, cache.stored - stored_before)
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
                self._lm = load_model(model, tok, device, **self._load)
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
    evals: str | list[str] | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    dtype: str | None = None,
    model_args: str | dict[str, Any] | None = None,
    log_samples: bool = True,
) -> SuiteResults:
    """Run every eval of ``suite`` on ``model`` (a name/path/``builtin:...``, or a model object plus
    ``tokenizer``) and gate the results. Never raises for a failed gate: check ``.verdict`` or call
    ``.raise_for_verdict()``. ``cache_dir=None`` keeps caches in memory only. ``limit`` and
    ``max_new_tokens`` shrink every eval (quick checks); both are recorded in the manifest.
    ``trust_code`` lets lm-eval task YAMLs run the Python their ``!function`` tags name.
    ``evals`` runs only the named evals; ``batch_size`` and ``seed`` override every eval's
    generation settings; ``dtype`` and ``model_args`` (``"k=v,..."`` or a dict) override the
    suite's. With ``out_dir`` and ``log_samples``, each generated eval's samples are written to
    ``samples_<eval>.jsonl`` beside results.json.

    Inputs and outputs are checked before any model loads: a bad option, device, baseline or
    unwritable ``out_dir`` is an RlitError at once, not after the generations."""
    overrides = {"max_new_tokens": max_new_tokens, "batch_size": batch_size, "seed": seed}
    suite = _prepare_suite(suite, limit, overrides, trust_code, evals)
    dtype, margs = _load_options(suite, dtype, model_args)
    out = _check_out(out_dir, baseline)
    if isinstance(model, (str, Path)):
        device = check_device(device)
    base = SuiteResults.load(baseline) if isinstance(baseline, (str, Path)) else baseline
    cache_root = default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None)
    if cache_root is not None:
        check_writable(cache_root, "--cache-dir", folder=True)
    results = _new_results(suite, limit, {**overrides, "evals": [e.name for e in suite.evals] if evals else None})
    ctx = _Context(model, tokenizer, device, cache_root, _progress_bars() if progress else None, dtype, margs)
    with trusting_code(trust_code):
        _run_evals(suite, ctx, results, limit, out if log_samples else None, out)
    _finish(results, suite, ctx, base, baseline, out)
    return results


def _check_out(out_dir: str | Path | None, baseline: str | Path | SuiteResults | None) -> Path | None:
    """The output folder, checked before anything runs: writable, and not the baseline's file."""
    if not out_dir:
        return None
    out = Path(out_dir)
    check_writable(out, "--out", folder=True)
    refuse_same_file({"--baseline": baseline if isinstance(baseline, (str, Path)) else None}, {"--out": out / "results.json"})
    return out


def _new_results(suite: Suite, limit: int | None, overrides: dict[str, Any]) -> SuiteResults:
    manifest = {**_manifest(suite, limit), "max_new_tokens_override": overrides["max_new_tokens"], "overrides": overrides}
    # "incomplete" is what results.json says while evals run (or if the process is killed)
    return SuiteResults(suite={"name": suite.name, "path": suite.path, "sha256": suite.sha256}, manifest=manifest,
                        verdict="incomplete")


def _run_evals(suite: Suite, ctx: _Context, results: SuiteResults, limit: int | None, samples_dir: Path | None,
               out: Path | None) -> None:
    """Every eval in turn; results.json (and the eval's samples file) is rewritten after each, so a
    later crash or interrupt loses nothing already computed."""
    where = f"{out}/results.json" if out else "the returned results"
    resume = ("generations and scores are cached, so rerunning the same command resumes" if ctx.cache_root is not None
              else "nothing was cached (--no-cache): a rerun starts again")
    with interrupts.keeping(f"evals finished so far are in {where}; {resume}"):
        try:
            with ctx.progress or nullcontext():
                for spec in suite.evals:
                    record, samples = _run_one(spec, ctx, suite, limit)
                    results.evals[spec.name] = record
                    _record_run(results, ctx)
                    if samples_dir and samples:  # per-sample rows go to their own file, not results.json
                        write_samples(samples_dir, spec.name, samples)
                    if out:
                        results.save(out / "results.json")
        except BaseException as exc:
            _unfinished(results, ctx, out, "interrupted" if isinstance(exc, KeyboardInterrupt) else "error")
            raise


_OVERRIDE_FLAGS = {"max_new_tokens": ("--max-new-tokens", 1), "batch_size": ("--batch-size", 1), "seed": ("--seed", 0)}


def _prepare_suite(suite: str | Path | Suite, limit: int | None, overrides: dict[str, int | None], trust_code: bool,
                   only: str | list[str] | None = None) -> Suite:
    """The suite as this run sees it: selected evals, command-line generation overrides applied."""
    checks = [("--limit", 1, limit)] + [(*_OVERRIDE_FLAGS[k], v) for k, v in overrides.items()]
    for name, low, value in checks:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    if not suite.evals:
        raise ConfigError(f"{suite.path or suite.name}: no evals to run")
    gen_update = {k: v for k, v in overrides.items() if v is not None}
    evals = []
    for e in select_evals(suite, only):
        update: dict[str, Any] = {}
        if gen_update:
            update["generation"] = e.generation.model_copy(update=gen_update)
        if trust_code and e.lm_eval is not None:
            update["lm_eval"] = e.lm_eval.model_copy(update={"trust_code": True})
        evals.append(e.model_copy(update=update) if update else e)
    return suite.model_copy(update={"evals": evals})


def select_evals(suite: Suite, only: str | list[str] | None) -> list[EvalSpec]:
    """The evals named by ``--evals`` (comma-separated or a list), in suite order; an unknown name
    is a ConfigError with the closest known name."""
    if not only:
        return list(suite.evals)
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if n.strip()]
    known = [e.name for e in suite.evals]
    for name in names:
        if name not in known:
            hint = did_you_mean(name, known, "") or f"evals: {', '.join(known)}"
            raise ConfigError(f"--evals: no eval named {name!r} in {suite.path or suite.name}; {hint}")
    if not names:
        raise ConfigError("--evals: no eval names given")
    return [e for e in suite.evals if e.name in names]


def _load_options(suite: Suite, dtype: str | None, model_args: str | dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """dtype and from_pretrained keywords: the command line over the suite, key by key."""
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: not a dtype (use {', '.join(DTYPES)})")
    args = {**suite.model_args.kwargs(), **parse_model_args(model_args)}
    return dtype or suite.dtype, args


def _record_run(results: SuiteResults, ctx: _Context) -> None:
    results.manifest["cache"] = ctx.counts
    if ctx._lm is not None:
        lm = ctx._lm
        results.manifest["model"] = {"name": lm.name, "sha256": lm.fingerprint, "device": lm.device, "dtype": lm.dtype,
                                     "model_args": lm.model_args}


def _unfinished(results: SuiteResults, ctx: _Context, out: Path | None, verdict: str) -> None:
    """An interrupt or a crash: keep the finished evals, with no gate and no pass/fail verdict."""
    _record_run(results, ctx)
    results.verdict = verdict
    if out:
        write_reports(results, out, None)


def _finish(results: SuiteResults, suite: Suite, ctx: _Context, base: SuiteResults | None, baseline: Any, out: Path | None) -> None:
    _record_run(results, ctx)
    name = str(baseline) if isinstance(baseline, (str, Path)) else "in-memory results"
    apply_gates(results, suite, base, name if base is not None else None)
    if out:
        write_reports(results, out, base)


def _run_one(spec: EvalSpec, ctx: _Context, suite: Suite, limit: int | None) -> tuple[EvalResult, list[dict[str, Any]]]:
    """One eval's result and its per-sample rows; an RlitError becomes an ``error`` result naming
    the eval (the others run on)."""
    start = time.perf_counter()
    samples: list[dict[str, Any]] = []
    try:
        if spec.lm_eval is not None:
            fields = _run_lm_eval(spec, ctx, limit)
        else:
            fields, samples = _run_generate(spec, ctx, limit, f"{suite.path}: evals ({spec.name!r}).metric")
        record = EvalResult(name=spec.name, description=spec.description, status="ok", **fields)
        record.ci = list(bootstrap_ci([u.value for u in record.units], [u.weight for u in record.units],
                                      record.stat, suite.bootstrap, suite.confidence, suite.seed))
    except RlitError as exc:
        record = EvalResult(name=spec.name, description=spec.description, status="error", error=str(exc),
                            error_type=type(exc).__name__)
    record.seconds = round(time.perf_counter() - start, 2)
    return record, samples


def _run_generate(spec: EvalSpec, ctx: _Context, limit: int | None, origin: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the eval's result fields, one row per completion for samples_<eval>.jsonl)."""
    n = min(x for x in (spec.limit, limit) if x) if (spec.limit or limit) else None
    agg_spec = spec.aggregate
    prompts = load_prompt_set(spec.prompts, spec.base_dir, n, group=agg_spec.group, by=agg_spec.by,
                              groups_only=agg_spec.method == "group_gap")
    need_details = agg_spec.method in ("prompt_level", "instruction_level")
    scorer = Scorer(spec.metric, spec.base_dir, need_details, origin, ctx.cache_root)
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
    try:
        scored = scorer.score(flat_prompts, flat, cols)  # the composite's score cache, per row
    finally:
        scorer.close()
    ctx.counts["scores"]["computed"] += scored.computed
    ctx.counts["scores"]["cached"] += scored.cached
    agg = aggregate(agg_spec, prompts.rows, scored, gen.samples)
    fields = {
        "kind": "generate", "prompts": {"source": prompts.source, "sha256": prompts.sha256, "n": len(texts),
                                        "selection": prompts.selection},
        "generation": {**gen.model_dump(), "prompt_format": prompt_format(lm.tokenizer, gen)},
        "metric": {**spec.metric.model_dump(exclude_none=True), "plugins": scorer.plugins},
        "aggregate": agg_spec.model_dump(), **_agg_fields(agg), "per_source": _per_source(scored), "completions": [
            {"key": r["key"], "prompt": r["prompt"], "completions": c} for r, c in zip(prompts.rows, completions)],
    }
    return fields, _sample_rows(prompts.rows, flat, scored, gen.samples)


def _sample_rows(rows: list[dict[str, Any]], flat: list[str], scored: Any, samples: int) -> list[dict[str, Any]]:
    """One row per completion: prompt, completion, total and per-source scores (NaN: not scored;
    written as null)."""
    out = []
    for i, completion in enumerate(flat):
        row = rows[i // samples]
        item = {"key": row["key"], "sample": i % samples, "prompt": row["prompt"], "completion": completion,
                "score": scored.values[i], "scores": {k: v[i] for k, v in scored.per_source.items()}}
        if scored.details:
            item["details"] = scored.details[i]
        out.append(item)
    return out


def _run_lm_eval(spec: EvalSpec, ctx: _Context, limit: int | None) -> dict[str, Any]:
    n = min(x for x in (spec.limit, limit) if x) if (spec.limit or limit) else None
    check_task(spec.lm_eval, Path(spec.base_dir))
    lm = ctx.lm()
    out = run_lm_eval(spec.lm_eval, lm.model, lm.tokenizer, Path(spec.base_dir), n)
    units = [Unit.model_validate(u) for u in out["units"]]  # the evaluator's hand-off, typed once here
    mean = mean_std(u.value for u in units)[0]
    if spec.lm_eval.target is not None:
        stat, value, higher = f"distance:{spec.lm_eval.target}", abs(mean - spec.lm_eval.target), False
    else:
        stat, value, higher = "mean", mean, True
    cats: dict[str, list[float]] = {}
    for u in units:
        cats.setdefault(u.category or "(all)", []).append(u.value)
    return {"kind": "lm_eval", "lm_eval": {**spec.lm_eval.model_dump(), "version": out["lm_eval_version"]},
            "prompts": {"source": spec.lm_eval.task, "sha256": out["data_sha256"], "n": len(units),
                        "selection": out.get("selection")},
            "aggregate": {"method": "mean"}, "stat": stat, "value": value, "higher_is_better": higher,
            "raw_value": mean, "n_units": len(units), "n_unscored": 0,
            "breakdown": {c: {"value": mean_std(v)[0], "n": len(v)} for c, v in sorted(cats.items())},
            "units": units, "per_source": {}}


def _agg_fields(agg: Aggregate) -> dict[str, Any]:
    return {"stat": agg.stat, "value": agg.value, "higher_is_better": agg.higher_is_better, "n_units": len(agg.units),
            "n_unscored": agg.n_unscored, "breakdown": agg.breakdown, "units": agg.units}


def _per_source(scored: Any) -> dict[str, dict[str, Any]]:
    """Each source's mean/std (and, for composites, weight and share of the total) for the report."""
    if scored.source_stats:
        return scored.source_stats
    out = {}
    for name, vals in scored.per_source.items():
        mean, std, n = mean_std(vals)
        out[name] = {"mean": mean, "std": std, "n_scored": n, "weight": 1.0, "share": 1.0}
    return out


def _manifest(suite: Suite, limit: int | None) -> dict[str, Any]:
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


def _progress_bars() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True))
