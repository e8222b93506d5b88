"""Running reward sources in isolation: building them from config options, calling them with an
optional time-out, and checking what they return. Every problem is one line naming the source."""

from __future__ import annotations

import difflib
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

from rlit.errors import ConfigError, PluginError, RlitError, SourceError
from rlit.rewards.config import SourceConfig
from rlit.rewards.source import RewardSource, Unscorable


Factory = Any  # a RewardSource class, or a FunctionSource partial: called with the options


def resolve_source(registry: Any, sc: SourceConfig, where: str, base_dir: Path | None = None) -> tuple[Factory, dict[str, Any]]:
    """The configured source's class (or, for ``function =``, the imported function wrapped as a
    ``FunctionSource`` factory) and its options checked against the constructor or function
    (names and type hints); nothing is constructed yet, so a config's every entry is checked first."""
    if sc.function is not None:
        return resolve_function(sc, where, base_dir)
    try:
        cls = registry.source_class(sc.name)
    except PluginError as exc:
        raise type(exc)(f"{where}.name: {exc}") from None
    check_options(cls, sc.options, where)
    return cls, typed_options(cls, sc.options, where)


def resolve_function(sc: SourceConfig, where: str, base_dir: Path | None) -> tuple[Factory, dict[str, Any]]:
    """Import ``sc.function`` and check ``options`` and ``columns`` against its parameters."""
    from rlit.rewards.functions import VERL_DEFAULT_COLUMNS, function_parameters, load_function

    fn, _ = load_function(sc.function, base_dir, f"{where}.function")  # type: ignore[arg-type]
    names, takes_any = function_parameters(fn)
    label = f"function {sc.function!r}"
    reserved = {"solution_str", *VERL_DEFAULT_COLUMNS, *sc.columns} if sc.signature == "verl" else {"prompts", "completions", *sc.columns}
    for key in sc.options:
        if key in reserved:  # rlit fills these from the row: an option would silently replace them
            raise ConfigError(f"{where}.options.{key}: {key!r} is filled from each row for signature = {sc.signature!r}; it cannot be an option")
        if key not in names and not takes_any:
            close = difflib.get_close_matches(key, sorted(names), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}.options.{key}: {label} takes no keyword {key!r}{hint}; its parameters: {', '.join(sorted(names)) or 'none'}")
    for key in sc.columns:
        if sc.signature == "trl" and key in ("prompts", "completions"):
            raise ConfigError(f"{where}.columns.{key}: {key!r} is the row's {key[:-1]}; map a column to another parameter")
        if key not in names and not takes_any:
            raise ConfigError(f"{where}.columns.{key}: {label} has no parameter {key!r}; its parameters: {', '.join(sorted(names)) or 'none'}")
    options = _validated(_callable_hints(fn), sc.options, where)
    factory = functools.partial(_function_source, sc, where, str(base_dir) if base_dir else None)
    return factory, options


def _function_source(sc: SourceConfig, where: str, base_dir: str | None, **options: Any) -> RewardSource:
    from rlit.rewards.functions import FunctionSource

    return FunctionSource(sc.function, sc.name, sc.signature, sc.columns, sc.completions, options,  # type: ignore[arg-type]
                          base_dir, f"{where}.function")


def build_source(registry: Any, sc: SourceConfig, where: str,
                 resolved: tuple[Factory, dict[str, Any]] | None = None, base_dir: Path | None = None) -> tuple[RewardSource, str]:
    """Instantiate the configured source; return it and its cache tag. ``where`` = ``"file: sources[i]"``."""
    cls, options = resolved or resolve_source(registry, sc, where, base_dir)
    what = f"function {sc.function!r}" if sc.function else f"reward source {sc.name!r}"
    try:
        source = cls(**options)
    except RlitError as exc:  # the plugin's own one-line message: say which entry it is about
        raise _prefixed(exc, where) from None
    except (ValueError, TypeError) as exc:  # a constructor rejecting a value is a config problem
        raise ConfigError(f"{where}.options: {what} rejected its options: {type(exc).__name__}: {_first_line(exc)}") from exc
    except Exception as exc:
        raise PluginError(f"{where}: {what} could not be created with options {sc.options}: {type(exc).__name__}: {_first_line(exc)}") from exc
    if sc.function:
        return source, source_tag(sc, source)
    reg = registry.sources[sc.name]
    version = registry.plugins[reg.plugin].version if reg.plugin in registry.plugins else None
    return source, f"{sc.name}|{cls.__module__}.{cls.__qualname__}|{reg.distribution}=={version}|code={code_fingerprint(cls)[:16]}"


def source_tag(sc: SourceConfig, source: Any) -> str:
    """A function source's cache tag: the import string, call convention, column mapping and
    the fingerprint of the code the function comes from."""
    mapping = json.dumps(sc.columns, sort_keys=True)
    return f"function|{sc.function}|{sc.signature}|{mapping}|{'messages' if source.messages else 'text'}|code={source.fingerprint[:16]}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _prefixed(exc: RlitError, where: str) -> RlitError:
    """``exc`` with its message prefixed by ``where`` (once: a message already naming it is kept)."""
    message = _first_line(exc)
    if not message.startswith(where):
        exc.args = (f"{where}: {message}",)  # str() of every RlitError (SourceError too) is args[0]
    return exc


def code_fingerprint(cls: Any) -> str:
    """sha256 of the code that defines ``cls`` (a class, function or module): every .py file of
    its top-level package (or its single-file module). Part of each cache key, so editing a
    plugin's ``score`` (``pip install -e``) invalidates its cached scores even when its version
    number did not change."""
    from rlit.rewards.functions import FunctionSource

    if isinstance(cls, FunctionSource):  # an instance: the code of the function it wraps
        return cls.fingerprint
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


def check_options(cls: type[RewardSource], options: dict[str, Any], where: str) -> None:
    """Unknown or missing constructor options are a ConfigError that lists the valid ones."""
    params = inspect.signature(cls.__init__).parameters.values()
    # object.__init__ looks like (*args, **kwargs) but takes nothing: a source without __init__ has no options
    takes_any = cls.__init__ is not object.__init__ and any(p.kind is p.VAR_KEYWORD for p in params)
    known = cls.options()
    valid = [o.name for o in known]
    listed = ", ".join(f"{o.name} ({o.type}, default {o.default!r})" if not o.required else f"{o.name} ({o.type}, required)" for o in known) or "none"
    for key in options:
        if key not in valid and not takes_any:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}.options.{key}: unknown option for reward source {cls.name!r}{hint}; valid options: {listed}")
    missing = [o.name for o in known if o.required and o.name not in options]
    if missing:
        raise ConfigError(f"{where}.options: reward source {cls.name!r} needs option(s) {', '.join(missing)}; valid options: {listed}")


def typed_options(cls: type[RewardSource], options: dict[str, Any], where: str) -> dict[str, Any]:
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


Score = float | None | Unscorable


def call_isolated(name: str, source: RewardSource, prompts: list[str], completions: list[str],
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
    source: RewardSource,
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
