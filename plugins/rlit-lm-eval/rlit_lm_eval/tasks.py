"""Loading lm-eval tasks by name or YAML path, offline, with data files resolved next to the YAML.

lm-eval resolves a relative ``dataset_kwargs.data_files`` against the current directory, so a task
YAML that points at ``data.jsonl`` beside it only works when run from that folder. rlit resolves
relative paths (``data_files``, ``data_dir``, and a ``dataset_path`` naming a local folder or
file) against the YAML's own folder first and falls back to the current directory (lm-eval's
rule) only when the YAML-relative path does not exist.
"""

from __future__ import annotations

import copy
import difflib
import glob
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from rlit.errors import ConfigError, DataError, PluginError, RlitError
from rlit.evaluation.lm_eval_tasks import check_task_code, code_trusted
from rlit_lm_eval.nltk_data import no_nltk_downloads

# lm-eval's simple_evaluate seeds few-shot sampling with 1234; we do the same so contexts match.
FEWSHOT_SEED = 1234

_tasks: dict[tuple[str, str | None], Any] = {}


def load_task(spec: str, include_path: str | None = None, trust_code: bool = False) -> Any:
    """The lm-eval ``Task`` for a task name or a YAML path (cached per spec and include path).

    A task YAML whose ``!function`` tags name Python beside it is refused (ConfigError naming
    the file and line) unless ``trust_code`` or ``--trust-code`` (rlit.evaluation.lm_eval_tasks)."""
    trust = trust_code or code_trusted()
    path = Path(spec).expanduser()
    if path.is_file():
        check_task_code(path, trust, "lm-eval task")  # before lm-eval imports anything it names
    # A YAML path is cached by its absolute path and modification time, so a changed file or
    # another working directory never gets a stale task.
    key = (f"{path.resolve()}@{path.stat().st_mtime_ns}" if path.is_file() else spec, include_path, trust)
    if key not in _tasks:
        _tasks[key] = _build(spec, include_path, trust)
    return _tasks[key]


def _build(spec: str, include_path: str | None, trust: bool = False) -> Any:
    import langdetect

    langdetect.DetectorFactory.seed = 0  # IFEval's language checker is random without a seed
    with no_nltk_downloads(f"lm-eval task {spec!r}"):
        path = Path(spec).expanduser()
        if spec.endswith((".yaml", ".yml")) or path.is_file():
            if not path.is_file():
                raise ConfigError(f"lm-eval task file {spec!r} does not exist")
            task = _task_from_yaml(path.resolve(), trust)
        else:
            task = _task_from_name(spec, include_path, trust)
    if task.config.output_type != "generate_until":
        raise ConfigError(
            f"lm-eval task {spec!r} has output_type {task.config.output_type!r}; the rlit-lm-eval adapter runs "
            "generate_until tasks (loglikelihood/multiple-choice tasks run as a suite eval's lm_eval table)"
        )
    return task


def _task_from_name(name: str, include_path: str | None, trust: bool = False) -> Any:
    entry = None
    if include_path:  # the user's folder first: indexing it alone is fast
        entry = _task_manager(include_path, False).task_index.get(name)
    manager = _task_manager(include_path, True) if entry is None else _task_manager(include_path, False)
    entry = entry or manager.task_index.get(name)
    if entry is None:
        raise ConfigError(unknown_task_message(name, manager.all_subtasks))
    if entry.kind.name not in ("TASK", "PY_TASK"):
        raise ConfigError(f"lm-eval name {name!r} is a {entry.kind.name.lower()}, not a task; name one of its tasks")
    if entry.yaml_path is not None:
        return _task_from_yaml(Path(entry.yaml_path), trust)
    return _only_task(manager.load(name), name)


@lru_cache(maxsize=8)
def _task_manager(include_path: str | None, include_defaults: bool) -> Any:
    from lm_eval.tasks import TaskManager

    if include_path and not Path(include_path).is_dir():
        raise ConfigError(f"lm-eval include_path {include_path!r} is not a folder")
    return TaskManager(include_path=include_path, include_defaults=include_defaults)


def unknown_task_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown lm-eval task {name!r}{hint} ({len(known)} tasks known; pass a YAML path or include_path for your own)"


def _task_from_yaml(path: Path, trust: bool = False) -> Any:
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml

    check_task_code(path, trust, "lm-eval task")
    try:
        cfg = load_yaml(path, resolve_func=True)
    except (OSError, ValueError, ImportError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot read lm-eval task YAML: {exc}") from None
    if "task" not in cfg or "group" in cfg:
        raise ConfigError(f"{path}: not a single lm-eval task (needs a 'task' key; groups are not supported)")
    cfg = resolve_local_paths(cfg, path.parent, str(path))
    cfg.setdefault("metadata", {})
    try:
        loaded = TaskManager(include_defaults=False).load(cfg)
    except RlitError:
        raise
    except Exception as exc:  # datasets and lm-eval raise many types for a bad task or missing data
        raise DataError(f"{path}: lm-eval could not build task {cfg['task']!r}: {type(exc).__name__}: {exc}") from None
    return _only_task(loaded, str(path))


def _only_task(loaded: dict, spec: str) -> Any:
    tasks = loaded["tasks"]
    if len(tasks) != 1:
        raise ConfigError(f"lm-eval spec {spec!r} gives {len(tasks)} tasks ({', '.join(sorted(tasks))}); name one task")
    return next(iter(tasks.values()))


def resolve_local_paths(cfg: dict, base: Path, where: str) -> dict:
    """A copy of a task config whose relative local paths point next to the YAML (see module doc)."""
    cfg = copy.copy(cfg)
    kwargs = dict(cfg.get("dataset_kwargs") or {})
    if "data_files" in kwargs:
        kwargs["data_files"] = _resolve_files(kwargs["data_files"], base, f"{where}: dataset_kwargs.data_files")
    if isinstance(kwargs.get("data_dir"), str):
        kwargs["data_dir"] = _resolve_one(kwargs["data_dir"], base, f"{where}: dataset_kwargs.data_dir")
    if kwargs:
        cfg["dataset_kwargs"] = kwargs
    dataset_path = cfg.get("dataset_path")
    if isinstance(dataset_path, str) and not os.path.isabs(dataset_path) and (base / dataset_path).exists():
        cfg["dataset_path"] = str((base / dataset_path).resolve())
    return cfg


def _resolve_files(files: Any, base: Path, where: str) -> Any:
    if isinstance(files, str):
        return _resolve_one(files, base, where)
    if isinstance(files, list):
        return [_resolve_one(f, base, where) for f in files]
    if isinstance(files, dict):
        return {split: _resolve_files(f, base, f"{where}.{split}") for split, f in files.items()}
    return files


def _resolve_one(name: str, base: Path, where: str) -> str:
    if "://" in name or os.path.isabs(name):
        return name
    beside_yaml = str((base / name).resolve())
    if glob.glob(beside_yaml):
        return beside_yaml
    if glob.glob(name):  # lm-eval's own rule: relative to the current directory
        return str(Path(name).resolve())
    raise DataError(f"{where}: data file {name!r} not found (looked in {base} and in the current directory {os.getcwd()})")


def prompt_rows(task: Any) -> list[dict[str, Any]]:
    """One row per eval doc: the doc's columns plus ``prompt`` (lm-eval's context), ``doc`` and ``key``.

    The context is what lm-eval sends to the model without a chat template: the task's
    description, its few-shot examples (seeded as lm-eval seeds them) and ``doc_to_text``.
    """
    if task.config.num_fewshot:
        task.set_fewshot_seed(seed=FEWSHOT_SEED)  # restart the sampler so contexts are reproducible
    rows = []
    for doc_id, doc in task.doc_iterator():
        context = task.fewshot_context(doc, num_fewshot=task.config.num_fewshot or 0, gen_prefix=task.doc_to_prefix(doc))
        plain = jsonable(doc)
        row = dict(plain) if isinstance(plain, dict) else {}
        row.update(prompt=context, doc=plain, key=f"{task.task_name}/{doc_id}")
        rows.append(row)
    return rows


def jsonable(value: Any) -> Any:
    """The doc as plain JSON types (what travels in a ``doc`` column and into results files)."""
    return json.loads(json.dumps(value, default=str))


def load_prompt_set(spec: str) -> list[dict[str, Any]]:
    """Loader for suite prompt sets ``lm-eval:<task name or YAML path>``."""
    if not spec.strip():
        raise ConfigError("prompt set 'lm-eval:' needs a task name or YAML path after the colon")
    try:
        return prompt_rows(load_task(spec.strip()))
    except RlitError:
        raise
    except Exception as exc:  # lm-eval raises many types; report them as this plugin's failure
        raise PluginError(f"plugin 'lm-eval': prompt set {spec!r}: {type(exc).__name__}: {exc}") from None
