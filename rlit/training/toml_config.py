"""Reading a training stage's TOML file into its dataclass config, with errors that name file and key.

Each stage declares a dataclass whose fields carry ``metadata={"help": ...}``; this module turns a
TOML table into that dataclass, rejecting unknown keys (with a did-you-mean) and values of the wrong
type, and resolving relative paths against the config file's folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from rlit.errors import ConfigError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file, or a ConfigError naming the file (and TOML's line/column)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def config_from_dict(cls: type[T], data: dict[str, Any], where: str, path_fields: tuple[str, ...] = (), base: Path | None = None, model_fields: tuple[str, ...] = ()) -> T:
    """Build dataclass ``cls`` from ``data``; ``where`` (file name, table) prefixes every error.

    Relative values of ``path_fields`` are resolved against ``base`` (the config file's folder).
    ``model_fields`` name a folder OR a hub id / built-in: resolved only when that folder exists.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(fields)}")
        hints = typing.get_type_hints(cls)
        kwargs[key] = _check_type(value, hints[key], f"{where}: key {key!r}")
        if isinstance(value, str) and base is not None and not Path(value).is_absolute():
            if key in path_fields or (key in model_fields and not value.startswith("builtin:") and (base / value).exists()):
                kwargs[key] = str((base / value).resolve())
    missing = [n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in kwargs]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r} ({fields[missing[0]].metadata.get('help', '')})")
    try:
        return cls(**kwargs)
    except ValueError as exc:  # __post_init__ validation
        raise ConfigError(f"{where}: {exc}") from None


def load_config(cls: type[T], path: str | Path, path_fields: tuple[str, ...] = (), model_fields: tuple[str, ...] = ()) -> T:
    """Read ``path`` (TOML) into dataclass ``cls``; relative paths resolve against its folder."""
    p = Path(path)
    return config_from_dict(cls, read_toml(p), str(p), path_fields, p.resolve().parent, model_fields)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    if not _matches(value, hint):
        raise ConfigError(f"{where} should be {_type_name(hint)}, got {type(value).__name__} {value!r}")
    # TOML writes 1 for 1.0; a float field should still hold a float.
    if isinstance(value, int) and not isinstance(value, bool) and _accepts(hint, float) and not _accepts(hint, int):
        return float(value)
    return value


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return isinstance(value, list) and (not args or all(_matches(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _accepts(hint: Any, t: type) -> bool:
    return hint is t or (typing.get_origin(hint) in (typing.Union, types.UnionType) and t in typing.get_args(hint))


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def help_table(cls: type) -> list[tuple[str, str, str]]:
    """(key, default, help) for each field: what docs and ``--help`` show."""
    rows = []
    for f in dataclasses.fields(cls):
        default = "required" if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING else repr(f.default if f.default is not dataclasses.MISSING else f.default_factory())
        rows.append((f.name, default, f.metadata.get("help", "")))
    return rows
