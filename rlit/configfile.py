"""Loading TOML config files into typed dataclasses, with errors that name the file and key."""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from rlit.errors import ConfigError

T = TypeVar("T")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error is a ConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def build(cls: type[T], data: dict[str, Any], where: str) -> T:
    """Validate ``data`` against dataclass ``cls``; ``where`` prefixes errors (e.g. ``"sft.toml: [sft]"``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    _check_keys(cls, data, where)
    try:
        return TypeAdapter(cls).validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{where}: {loc}: {err['msg']} (got {err.get('input')!r})") from None


def _check_keys(cls: type, data: dict[str, Any], where: str) -> None:
    """Unknown keys are errors (pydantic would ignore them), in nested dataclass tables too."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(sorted(fields))}")
        nested = [t for t in (typing.get_args(hints[key]) or (hints[key],)) if dataclasses.is_dataclass(t)]
        if nested and isinstance(value, dict):
            _check_keys(nested[0], value, f"{where}.{key}" if ":" in where else f"{where}: {key}")


def load(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Read ``path`` (optionally one ``[section]`` of it) into dataclass ``cls``."""
    data = read_toml(path)
    where = str(path)
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: missing [{section}] table")
        data, where = data[section], f"{path}: [{section}]"
    return build(cls, data, where)


def load_stage(cls: type[T], path: str | Path, section: str) -> T:
    """A stage config: the ``[section]`` table when the file has one (a pipeline file), else the whole file."""
    data = read_toml(path)
    if section in data and isinstance(data[section], dict):
        return build(cls, data[section], f"{path}: [{section}]")
    return build(cls, data, str(path))


def help_text(cls: type) -> dict[str, str]:
    """Each field's ``metadata['help']``, for docs and ``--help`` output."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
