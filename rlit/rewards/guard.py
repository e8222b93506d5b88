"""Running reward sources in isolation: building them from config options, calling them with an
optional time-out, and checking what they return. Every problem is one line naming the source."""

from __future__ import annotations

import difflib
import inspect
import math
import threading
from typing import Any

from rlit.errors import ConfigError, PluginError, RlitError, SourceError
from rlit.rewards.config import SourceConfig
from rlit.rewards.source import RewardSource


def build_source(registry: Any, sc: SourceConfig, where: str) -> tuple[RewardSource, str]:
    """Instantiate the configured source; return it and its cache tag. ``where`` = ``"file: sources[i]"``."""
    try:
        cls = registry.source_class(sc.name)
    except PluginError as exc:
        raise type(exc)(f"{where}.name: {exc}") from None
    check_options(cls, sc.options, where)
    try:
        source = cls(**sc.options)
    except RlitError:
        raise  # already a one-line message (e.g. a missing data package and its install line)
    except Exception as exc:
        raise PluginError(f"{where}: reward source {sc.name!r} could not be created with options {sc.options}: {type(exc).__name__}: {exc}") from exc
    reg = registry.sources[sc.name]
    version = registry.plugins[reg.plugin].version if reg.plugin in registry.plugins else None
    return source, f"{sc.name}|{cls.__module__}.{cls.__qualname__}|{reg.distribution}=={version}"


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


def call_source(
    name: str,
    source: RewardSource,
    prompts: list[str],
    completions: list[str],
    columns: dict[str, list[Any]],
    timeout: float | None = None,
    method: str = "score",
) -> list[Any]:
    """Call ``source.score`` (or ``details``) and check the result; raise ``SourceError`` naming ``name``."""
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
        raise SourceError(name, f"timed out after {timeout:g} s (timeout = {timeout:g}); its late result will be ignored")
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


def check_scores(name: str, result: Any, n: int) -> list[float | None]:
    """Scores must be one finite number (or None) per completion."""
    out: list[float | None] = []
    for i, v in enumerate(_check_length(name, result, n, "score")):
        if v is None:
            out.append(None)
            continue
        try:
            if isinstance(v, (str, bytes)):
                raise TypeError
            f = float(v)
        except (TypeError, ValueError):
            raise SourceError(name, f"score() returned {v!r} for row {i}: not a number or None") from None
        if not math.isfinite(f):
            raise SourceError(name, f"score() returned {f} for row {i}: scores must be finite numbers or None")
        out.append(f)
    return out
