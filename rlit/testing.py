"""Test helpers for plugin authors (public API; documented in docs/plugin-guide.md).

- :func:`temporary_plugin`: register a plugin object in the process-wide registry for the length
  of a ``with`` block, and always unregister it (even when the block raises).
- pytest fixtures ``rlit_registry`` and ``rlit_temp_plugin``: installed with rlit as a pytest
  plugin (the ``pytest11`` entry point ``rlit``), so any test suite can use them without a conftest.
- :func:`check_source`: the reward-source contract, checked on a class (or an installed source's
  name) before publishing; ``rlit plugins check NAME`` runs it and prints the verdicts.
"""

from __future__ import annotations

import contextlib
import inspect
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

from rlit.errors import RlitError
from rlit.plugins import PluginRegistry, PluginSettings, get_registry
from rlit.rewards.batch import Unscorable
from rlit.rewards.guard import _init_hints, check_options, check_scores, typed_options
from rlit.rewards.source import RewardSource

__all__ = ["CheckResult", "check_source", "temporary_plugin", "LONG_TEXT_CHARS", "SAMPLE_PROMPTS", "SAMPLE_COMPLETIONS"]

LONG_TEXT_CHARS = 20_000
SAMPLE_PROMPTS = ["What is 2 + 2?", "Write a haiku about rain.", "Answer in one word: colour of the sky?", ""]
SAMPLE_COMPLETIONS = ["4", "Rain taps the window\nsoft grey hours drift slowly by\nthe kettle answers", "Blue.", ""]


@contextlib.contextmanager
def temporary_plugin(plugin: Any, name: str = "temp-plugin", registry: PluginRegistry | None = None) -> Iterator[PluginRegistry]:
    """Register ``plugin`` (an object or module with ``rlit_*`` hooks) as ``name`` for the block;
    it is unregistered on exit whatever happens, so one test's source never leaks into the next."""
    reg = registry if registry is not None else get_registry()
    reg.add_plugin(plugin, name, distribution=None, version=None)
    try:
        yield reg
    finally:
        reg.remove_plugin(name)


# -- the contract check ------------------------------------------------------------------------

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class CheckResult:
    """One contract check: ``name``, ``status`` (pass / fail / skip) and a one-line ``detail``."""

    name: str
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "fail"


def check_source(cls_or_name: type[RewardSource] | str, options: dict[str, Any] | None = None,
                 rows: dict[str, list[Any]] | None = None) -> list[CheckResult]:
    """Check a reward source class against the contract rlit relies on; returns one result per check.

    ``options``: constructor keywords (validated as a config's ``options`` table would be).
    ``rows``: sample values for the source's declared ``columns`` (one list per column, as many as
    :data:`SAMPLE_PROMPTS`); unset columns get empty strings.
    """
    cls = get_registry().source_class(cls_or_name) if isinstance(cls_or_name, str) else cls_or_name
    results: list[CheckResult] = []
    opts = _check_options(cls, dict(options or {}), results)
    if opts is None:
        return results + [CheckResult("construct", "fail", "skipped: the options are invalid")]
    try:
        source = cls(**opts)
    except Exception as exc:  # the point of the check is to report it, whatever it is
        return results + [CheckResult("construct", "fail", _why(exc))]
    results.append(CheckResult("construct", "pass", f"{cls.__name__}({_kw(opts)})"))
    columns = _columns(cls, rows)
    first = _run(results, "one value per row", lambda: _score(source, SAMPLE_PROMPTS, SAMPLE_COMPLETIONS, columns))
    results.append(_columns_result(cls, first))
    _run(results, "empty input", lambda: _empty(source, cls))
    long_cols = {k: v[:1] for k, v in columns.items()}
    _run(results, "long text", lambda: _score(source, ["Write a long essay."], ["word " * (LONG_TEXT_CHARS // 5)], long_cols))
    if first is not None:
        _run(results, "deterministic", lambda: _same(first, _score(source, SAMPLE_PROMPTS, SAMPLE_COMPLETIONS, columns), "a second call"))
        _run(results, "picklable", lambda: _same(first, _score(pickle.loads(pickle.dumps(source)), SAMPLE_PROMPTS, SAMPLE_COMPLETIONS, columns), "the unpickled copy"))
    else:  # both compare against the first scores
        results += [CheckResult(n, "skip", "needs 'one value per row' to pass") for n in ("deterministic", "picklable")]
    return results


def _check_options(cls: type, options: dict[str, Any], results: list[CheckResult]) -> dict[str, Any] | None:
    """Options are checked by rlit's own option validation, and every constructor parameter has
    a type hint it can use (an unannotated option is never type-checked for users)."""
    try:
        check_options(cls, options, cls.name)
        typed = typed_options(cls, options, cls.name)
    except RlitError as exc:
        results.append(CheckResult("option types", "fail", str(exc)))
        return None
    hints = _init_hints(cls)
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)] if cls.__init__ is not object.__init__ else []
    problems = []
    for p in params:
        if p.name not in hints:
            problems.append(f"{p.name}: no type hint")
            continue
        try:
            TypeAdapter(hints[p.name])
        except Exception:
            problems.append(f"{p.name}: hint {hints[p.name]!r} is not a type rlit can validate")
    if problems:
        results.append(CheckResult("option types", "fail", "; ".join(problems)))
    else:
        results.append(CheckResult("option types", "pass", f"{len(params)} option(s), all typed"))
    return typed


def _columns(cls: type, rows: dict[str, list[Any]] | None) -> dict[str, list[Any]]:
    given = dict(rows or {})
    for col in getattr(cls, "columns", ()) or ():
        given.setdefault(col, [""] * len(SAMPLE_PROMPTS))
    for col, values in given.items():
        if len(values) != len(SAMPLE_PROMPTS):
            raise ValueError(f"rows[{col!r}] has {len(values)} values; give one per sample prompt ({len(SAMPLE_PROMPTS)})")
    return given


def _score(source: RewardSource, prompts: list[str], completions: list[str], columns: dict[str, list[Any]]) -> list[Any]:
    """Score, then hold the result to what rlit accepts: one finite number, None or Unscorable per row."""
    return check_scores(source.name or type(source).__name__, source.score(list(prompts), list(completions), **columns), len(completions))


def _empty(source: RewardSource, cls: type) -> str:
    out = source.score([], [], **{c: [] for c in getattr(cls, "columns", ()) or ()})
    if list(out) != []:
        raise AssertionError(f"score([], []) returned {out!r:.80}, not []")
    return "score([], []) == []"


def _same(first: list[Any], again: list[Any], what: str) -> str:
    if [_key(v) for v in first] != [_key(v) for v in again]:
        raise AssertionError(f"{what} scored {_short(again)}, the first call {_short(first)}")
    return f"{what} gives the same scores"


def _key(v: Any) -> Any:
    if isinstance(v, Unscorable):
        return ("unscorable", str(v))
    return v if v is None else round(float(v), 9)


def _columns_result(cls: type, first: list[Any] | None) -> CheckResult:
    declared = tuple(getattr(cls, "columns", ()) or ())
    if not declared:
        return CheckResult("declared columns", "skip", "the source declares no columns")
    if first is None:
        return CheckResult("declared columns", "fail", f"scoring with columns {', '.join(declared)} present failed")
    return CheckResult("declared columns", "pass", f"scores with {', '.join(declared)} given")


def _run(results: list[CheckResult], name: str, fn: Any) -> Any:
    """Run one check; its value (scores or a message) is returned, None when it failed."""
    try:
        value = fn()
    except Exception as exc:  # a failing check is a verdict, not a crash
        results.append(CheckResult(name, "fail", _why(exc)))
        return None
    detail = value if isinstance(value, str) else f"{len(value)} value(s): {_short(value)}"
    results.append(CheckResult(name, "pass", detail))
    return value


def _short(values: list[Any]) -> str:
    shown = ", ".join("None" if v is None else f"Unscorable({v})" if isinstance(v, Unscorable) else f"{float(v):.4g}" for v in values[:6])
    return f"[{shown}{', ...' if len(values) > 6 else ''}]"


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _kw(opts: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r:.30}" for k, v in opts.items())


# -- pytest fixtures (the ``pytest11`` entry point ``rlit`` loads this module) --------------------

try:
    import pytest
except ImportError:  # rlit.testing works without pytest; only the fixtures need it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def rlit_registry() -> PluginRegistry:
        """A fresh process-wide plugin registry with every installed entry point loaded."""
        return get_registry(PluginSettings.from_env(), reload=True)

    @pytest.fixture
    def rlit_temp_plugin(rlit_registry: PluginRegistry) -> Iterator[Any]:
        """``rlit_temp_plugin(obj, "name")`` registers a plugin for one test; unregistered after it."""
        stack = contextlib.ExitStack()

        def add(plugin: Any, name: str = "temp-plugin") -> PluginRegistry:
            return stack.enter_context(temporary_plugin(plugin, name, rlit_registry))

        with stack:
            yield add

