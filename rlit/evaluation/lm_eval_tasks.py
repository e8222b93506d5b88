"""What the core keeps of lm-eval tasks: the opt-in for code in task YAMLs, and the hand-off of a
suite eval's ``lm_eval`` table to the model evaluator a plugin registers as ``lm-eval``
(``register_model_evaluators``; the rlit-lm-eval plugin provides it, with its built-in tasks).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

import yaml

from rlit.errors import ConfigError
from rlit.evaluation.suite import LmEvalSpec
from rlit.plugins import get_registry

EVALUATOR = "lm-eval"  # the model evaluator that runs `lm_eval` tables

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
    if not isinstance(doc, yaml.MappingNode):
        return []
    return [str(v.value) for k, v in doc.value if getattr(k, "value", None) == "include" and isinstance(v, yaml.ScalarNode)]


def _installed_lm_eval_function(target: str, base: Path) -> bool:
    module = target.rpartition(".")[0]
    # lm-eval looks for `<module path>.py` beside the YAML first: such a file is the author's code.
    return module.startswith("lm_eval.") and not (base / f"{module.replace('.', '/')}.py").exists()


def check_task(spec: LmEvalSpec, base_dir: Path) -> None:
    """What the evaluator can check before the model loads (a task YAML exists, runs no untrusted code)."""
    get_registry().model_evaluator(EVALUATOR).check(spec, base_dir)


def run_lm_eval(spec: LmEvalSpec, model: Any, tokenizer: Any, base_dir: Path, limit: int | None) -> dict[str, Any]:
    """The evaluator's per-document ``units`` plus ``data_sha256``, ``lm_eval_version`` and ``selection``."""
    return get_registry().model_evaluator(EVALUATOR).run(spec, model, tokenizer, base_dir, limit)
