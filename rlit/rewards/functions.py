"""Function sources: a plain reward function named in a reward config (``function =
"package.module:attr"`` or ``"path/to/file.py:attr"``) wrapped as a ``RewardSource``, so it goes
through the same guarded call path, cache, failure policy and statistics as a plugin's source.

Two call conventions (``signature``):

- ``"trl"`` (default): ``fn(prompts=[...], completions=[...], **columns, **options)`` once per
  batch, returning one ``float | None`` per completion (TRL's ``reward_funcs`` convention).
- ``"verl"``: ``fn(data_source=, solution_str=, ground_truth=, extra_info=, **options)`` once per
  row, returning a float or a dict whose ``score`` is the value (other keys become details).

Either may be ``async``. Importing a module runs its code: the function string only ever comes
from a reward config (the user's own file), never from a data row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

from rlit.configfile import resolve_path
from rlit.errors import ConfigError, PluginError
from rlit.rewards.config import parse_function_spec
from rlit.rewards.guard import code_fingerprint
from rlit.rewards.source import RewardSource

# verl's compute_score arguments and the row columns they come from unless `columns` says otherwise.
VERL_DEFAULT_COLUMNS = {"data_source": "data_source", "ground_truth": "ground_truth", "extra_info": "extra_info"}
# Of those, a column the data may lack (verl itself passes None / {} then); ground_truth must be there.
_VERL_OPTIONAL = {"data_source": None, "extra_info": {}}


def load_function(spec: str, base_dir: Path | None, where: str) -> tuple[Callable[..., Any], str]:
    """Import the function; return it and a fingerprint of the code it comes from. Every problem
    is one line naming ``where`` (``"file: sources[i].function"``)."""
    try:
        target, attr, is_file = parse_function_spec(spec)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    module = _import_file(target, base_dir, where) if is_file else _import_module(target, where)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{where}: {module.__name__ if not is_file else target} has no attribute {part!r}") from None
    if not callable(obj):
        raise ConfigError(f"{where}: {spec} is a {type(obj).__name__}, not a function")
    return obj, _fingerprint(module)


def _import_module(name: str, where: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise ConfigError(f"{where}: no module named {exc.name!r} (is it installed, or on PYTHONPATH?)") from None
        raise PluginError(f"{where}: importing {name!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    except Exception as exc:  # the module's own code failed while importing
        raise PluginError(f"{where}: importing {name!r} failed: {type(exc).__name__}: {_first_line(exc)}") from exc


def _import_file(target: str, base_dir: Path | None, where: str) -> Any:
    path = Path(resolve_path(target, base_dir or Path.cwd())).resolve()  # relative to the config file, like every path in it
    if not path.is_file():
        raise ConfigError(f"{where}: file not found: {path}")
    if path.suffix != ".py":
        raise ConfigError(f"{where}: {path} is not a .py file")
    # One module per file and content, under a private name: the same file is imported once.
    data = path.read_bytes()
    name = f"rlit_function_{hashlib.sha256(str(path).encode() + data).hexdigest()[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{where}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and pickle look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"{where}: importing {path} failed: {type(exc).__name__}: {_first_line(exc)}") from exc
    return module


def _fingerprint(module: Any) -> str:
    """sha256 of the code behind the function: its package's .py files (as for plugins), or the
    single file it was loaded from."""
    if module.__name__.startswith("rlit_function_"):  # read now: the file may change within a process
        return hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()
    return code_fingerprint(module)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def is_async_callable(fn: Any) -> bool:
    """Whether calling ``fn`` returns a coroutine (a coroutine function, a partial of one, or an
    object whose ``__call__`` is ``async``), as TRL decides it."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


def run_awaitable(awaitable: Any) -> Any:
    """Wait for a coroutine from synchronous code. When this thread already runs an event loop
    (called from async code), the coroutine runs on a fresh loop in a helper thread instead."""
    async def wrap() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wrap()).result()


def function_parameters(fn: Callable[..., Any]) -> tuple[set[str], bool]:
    """The keyword names ``fn`` accepts and whether it takes ``**kwargs``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return set(), True
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def wants_messages(fn: Callable[..., Any]) -> bool:
    """``completions = "auto"``: conversational completions when the function's ``completions``
    parameter is annotated as a list of message lists (as TRL's own ``trl.rewards`` are)."""
    try:
        ann = inspect.signature(fn).parameters["completions"].annotation
    except (KeyError, TypeError, ValueError):
        return False
    text = ann if isinstance(ann, str) else repr(ann)
    return text.replace(" ", "").replace("typing.", "").lower().startswith(("list[list[dict", "list[list[message"))


class FunctionSource(RewardSource):
    """A plain function as a reward source (built from a ``function =`` entry of a reward config).

    Picklable: it pickles the function's import string, not the function, and imports it again
    when unpickled (TRL's async GRPO pickles reward functions into a child process).
    """

    description = "a reward function named in the reward config"

    def __init__(self, spec: str, name: str, signature: str = "trl", columns: dict[str, str] | None = None,
                 completions: str = "auto", options: dict[str, Any] | None = None, base_dir: str | None = None,
                 where: str = "function"):
        self.spec, self.name, self.signature = spec, name, signature
        self.column_map = dict(columns or {})
        self.completion_format = completions
        self.kwargs = dict(options or {})
        # Fixed now, so an unpickled copy in another process (another cwd) finds the same file.
        self.base_dir = base_dir or str(Path.cwd())
        self.where = where
        self.description = f"function {spec} ({signature} signature)"  # what `rlit serve`'s /sources shows
        self.fn, self.fingerprint = load_function(spec, Path(base_dir) if base_dir else None, where)
        self.messages = completions == "messages" or (completions == "auto" and signature == "trl" and wants_messages(self.fn))
        self._details: tuple[Any, list[dict[str, Any]]] | None = None
        if signature == "verl":
            mapping = {**VERL_DEFAULT_COLUMNS, **self.column_map}
            self.columns = tuple(col for arg, col in mapping.items() if arg not in _VERL_OPTIONAL or arg in self.column_map)
        else:
            self.columns = tuple(self.column_map.values())

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("fn", "_details")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.fn, _ = load_function(self.spec, Path(self.base_dir) if self.base_dir else None, self.where)
        self._details = None

    def score(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[Any]:
        if self.signature == "verl":
            results = self._verl_rows(completions, columns)
            self._details = (self._batch_key(completions, columns), [_extra(r) for r in results])
            return [_verl_score(r) for r in results]
        return self._trl_batch(prompts, completions, columns)

    def details(self, prompts: list[str], completions: list[str], **columns: list[Any]) -> list[dict[str, Any]]:
        """verl: a dict result's keys besides ``score``, per row (from the last ``score`` call on
        the same rows when there was one, so the function is not called twice)."""
        if self.signature != "verl":
            return [{} for _ in completions]
        if self._details is not None and self._details[0] == self._batch_key(completions, columns):
            return self._details[1]
        return [_extra(r) for r in self._verl_rows(completions, columns)]

    # -- calling ------------------------------------------------------------------------------
    def _trl_batch(self, prompts: list[str], completions: list[str], columns: dict[str, list[Any]]) -> list[Any]:
        kwargs = {**columns, **{arg: columns.get(col) for arg, col in self.column_map.items()}, **self.kwargs}
        if self.messages:  # as TRL passes a conversational dataset's rows
            prompts = [[{"role": "user", "content": p}] for p in prompts]  # type: ignore[misc]
            completions = [[{"role": "assistant", "content": c}] for c in completions]  # type: ignore[misc]
        result = self.fn(**self._accepted({"prompts": prompts, "completions": completions, **kwargs}))
        return run_awaitable(result) if inspect.isawaitable(result) else result

    def _verl_rows(self, completions: list[str], columns: dict[str, list[Any]]) -> list[Any]:
        mapping = {**VERL_DEFAULT_COLUMNS, **self.column_map}
        calls = []
        for i, text in enumerate(completions):
            args = {arg: (columns[col][i] if col in columns else _VERL_OPTIONAL.get(arg)) for arg, col in mapping.items()}
            if args.get("extra_info") is None and "extra_info" not in self.column_map:
                args["extra_info"] = {}
            calls.append(self._accepted({"solution_str": text, **args, **self.kwargs}))
        if not is_async_callable(self.fn):
            return [_awaited(self.fn(**kw)) for kw in calls]

        async def gather() -> list[Any]:  # rows of an async function run concurrently
            return list(await asyncio.gather(*(self.fn(**kw) for kw in calls)))

        return run_awaitable(gather())

    def _accepted(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Only the keywords the function takes, unless it takes ``**kwargs`` (options were
        checked against its parameters when the config was loaded)."""
        names, takes_any = function_parameters(self.fn)
        return kwargs if takes_any else {k: v for k, v in kwargs.items() if k in names}

    @staticmethod
    def _batch_key(completions: list[str], columns: dict[str, list[Any]]) -> Any:
        return repr((completions, sorted(columns.items())))


def _awaited(value: Any) -> Any:
    return run_awaitable(value) if inspect.isawaitable(value) else value


def _verl_score(result: Any) -> Any:
    if isinstance(result, dict):
        if "score" not in result:
            keys = ", ".join(map(str, result)) or "none"
            raise ValueError(f"the function returned a dict without 'score' (keys: {keys})")
        return result["score"]
    return result


def _extra(result: Any) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "score"} if isinstance(result, dict) else {}
