"""Running reward sources in isolation: checking config options against a source's constructor,
calling it with an optional time-out, and checking what it returns. Every problem is one line
naming the source. (Building sources from a config is ``rlit.rewards.build``.)"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import sys
import threading
import typing
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from rlit.configfile import did_you_mean
from rlit.errors import ConfigError, SourceError
from rlit.rewards.batch import Score, Unscorable

Source = Any  # a RewardSource (rlit.rewards.source sits above this module: it calls through here)


def code_fingerprint(cls: Any) -> str:
    """sha256 of the code that defines ``cls`` (a class, function or module): every .py file of
    its top-level package (or its single-file module). Part of each cache key, so editing a
    plugin's ``score`` (``pip install -e``) invalidates its cached scores even when its version
    number did not change."""
    module = cls.__name__ if inspect.ismodule(cls) else cls.__module__
    top = sys.modules.get(module.split(".")[0])
    folders = list(getattr(top, "__path__", None) or [])
    if folders:
        return _folder_digest(tuple(sorted(str(f) for f in folders)))
    file = getattr(top, "__file__", None) or getattr(sys.modules.get(module), "__file__", None)
    return _folder_digest((str(file),)) if file else "no-source-file"


@functools.lru_cache(maxsize=None)  # once per process per package: plugins do not change mid-run
def _folder_digest(roots: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for root in map(Path, roots):
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for f in files:
            try:
                data = f.read_bytes()
            except OSError:
                continue
            digest.update(f"{f.relative_to(root) if root.is_dir() else f.name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def check_options(cls: type, options: dict[str, Any], where: str) -> None:
    """Unknown or missing constructor options are a ConfigError that lists the valid ones."""
    params = inspect.signature(cls.__init__).parameters.values()
    # object.__init__ looks like (*args, **kwargs) but takes nothing: a source without __init__ has no options
    takes_any = cls.__init__ is not object.__init__ and any(p.kind is p.VAR_KEYWORD for p in params)
    known = cls.options()
    valid = [o.name for o in known]
    listed = ", ".join(f"{o.name} ({o.type}, default {o.default!r})" if not o.required else f"{o.name} ({o.type}, required)" for o in known) or "none"
    for key in options:
        if key not in valid and not takes_any:
            raise ConfigError(f"{where}.options.{key}: unknown option for reward source {cls.name!r}{did_you_mean(key, valid)}; valid options: {listed}")
    missing = [o.name for o in known if o.required and o.name not in options]
    if missing:
        raise ConfigError(f"{where}.options: reward source {cls.name!r} needs option(s) {', '.join(missing)}; valid options: {listed}")


def typed_options(cls: type, options: dict[str, Any], where: str) -> dict[str, Any]:
    """Options validated against the constructor's type hints (pydantic, strict as for JSON: an
    int is no float's stand-in, "abc" is no number, but a list may fill a tuple and a string a
    Path). Unannotated parameters accept anything. Returns the validated values."""
    return _validated(_init_hints(cls), options, where)


def _validated(hints: dict[str, Any], options: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(options)
    for key, value in options.items():
        if key not in hints:
            continue
        try:
            adapter = TypeAdapter(hints[key])
        except Exception:  # a type pydantic cannot describe: the plugin checks it itself
            continue
        try:
            out[key] = adapter.validate_json(json.dumps(value), strict=True)
        except (TypeError, ValueError) as exc:
            if not isinstance(exc, ValidationError):  # not JSON (a Python object in a dict config)
                continue
            raise ConfigError(f"{where}.options.{key}: {_type_problem(exc)} (got {value!r:.80}; expected {_type_name(hints[key])})") from None
    return out


def _init_hints(cls: type) -> dict[str, Any]:
    if cls.__init__ is object.__init__:
        return {}
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that does not resolve: keep the ones that are real types
        hints = {p.name: p.annotation for p in inspect.signature(cls.__init__).parameters.values()
                 if p.annotation is not inspect.Parameter.empty and not isinstance(p.annotation, str)}
    hints.pop("return", None)
    return hints


def _callable_hints(fn: Any) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotations (or not a plain function): no type checks
        return {}
    hints.pop("return", None)
    return hints


def _type_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"])
    return f"{loc.lstrip('.') + ': ' if loc else ''}{err['msg']}"


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


class SourceTimeout(SourceError):
    """A source did not answer in time (halving the batch would wait again for every half)."""


def call_isolated(name: str, source: Source, prompts: list[str], completions: list[str],
                  columns: dict[str, list[Any]], timeout: float | None = None) -> tuple[list[Score], list[str]]:
    """``on_error = "skip"``: call the source; when the batch fails (raises, wrong length, a bad
    value), halve it and retry each half, down to single rows, so only the rows that fail lose
    their score, each as ``Unscorable(<the error line>)``. Returns the values and the distinct
    errors met. A time-out is not halved: the whole batch is unscored with the time-out reason."""
    try:
        return call_source(name, source, prompts, completions, columns, timeout), []
    except SourceTimeout as exc:
        return [Unscorable(exc.problem)] * len(completions), [str(exc)]
    except SourceError as exc:
        if len(completions) <= 1:
            return [Unscorable(exc.problem)] * len(completions), [str(exc)]
    mid = len(completions) // 2
    halves = [(0, mid), (mid, len(completions))]
    values: list[Score] = []
    errors: list[str] = []
    for a, b in halves:
        part, errs = call_isolated(name, source, prompts[a:b], completions[a:b], {k: v[a:b] for k, v in columns.items()}, timeout)
        values += part
        errors += [e for e in errs if e not in errors]
    return values, errors


def call_source(
    name: str,
    source: Source,
    prompts: list[str],
    completions: list[str],
    columns: dict[str, list[Any]],
    timeout: float | None = None,
    method: str = "score",
) -> list[Any]:
    """Call ``source.score`` (or ``details``) and check the result; raise ``SourceError`` naming
    ``name``. The one path every source call takes (composite, ``rlit score``, evaluation)."""
    fn = getattr(source, method)
    try:
        if timeout is None:
            result = fn(prompts, completions, **columns)
        else:
            result = _with_timeout(name, lambda: fn(prompts, completions, **columns), timeout)
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(name, f"{method}() raised {type(exc).__name__}: {exc}") from exc
    if method == "score":
        return check_scores(name, result, len(completions))
    return _check_length(name, result, len(completions), method)


def _with_timeout(name: str, fn: Any, timeout: float) -> Any:
    # A daemon thread we stop waiting for: Python cannot kill a thread, so a stuck source keeps
    # running in the background, but the batch goes on and its late result is dropped.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"rlit-source-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise SourceTimeout(name, f"timed out after {timeout:g} s (timeout = {timeout:g}); its late result will be ignored")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _check_length(name: str, result: Any, n: int, method: str) -> list[Any]:
    if isinstance(result, (str, bytes, dict)) or not hasattr(result, "__len__"):
        raise SourceError(name, f"{method}() returned {type(result).__name__}, not a list with one item per completion")
    values = list(result)
    if len(values) != n:
        raise SourceError(name, f"{method}() returned {len(values)} values for {n} completions")
    return values


def check_scores(name: str, result: Any, n: int) -> list[Score]:
    """Scores must be one finite number, None or ``Unscorable`` per completion."""
    out: list[Score] = []
    for i, v in enumerate(_check_length(name, result, n, "score")):
        if v is None or isinstance(v, Unscorable):
            out.append(v)
            continue
        try:
            if isinstance(v, (str, bytes)):
                raise TypeError
            f = float(v)
        except (TypeError, ValueError):
            raise SourceError(name, f"score() returned {v!r} for row {i}: not a number, None or rlit.Unscorable") from None
        if not math.isfinite(f):
            raise SourceError(name, f"score() returned {f} for row {i}: scores must be finite numbers or None")
        out.append(f)
    return out
