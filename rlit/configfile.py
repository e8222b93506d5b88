"""Loading TOML config files into typed dataclasses, with errors that name the file and key.

One typed layer for every stage config (SFT, reward model, preference pairs, PPO, GRPO/RLOO,
pipeline): :func:`build` validates a table against a dataclass, and

- rejects unknown keys (with a "did you mean"), in nested tables too;
- rejects NaN and infinity in every float field (``allow_inf_nan=False`` on every dataclass built);
- enforces the constraints written into the field types (``Annotated[float, POSITIVE]``, ...);
- checks ``Device`` fields with :func:`rlit.devices.check_device` (``device = "banana"`` fails at
  load, not after the data is read);
- resolves relative path fields (``field(metadata={"path": True})``) against the folder of the
  config file that names them, and model fields (``metadata={"model": True}``) when that folder
  holds such a folder (else they stay hub ids or ``builtin:`` names): :func:`resolve_fields`.

Every error is one ConfigError line: ``run.toml: [ppo] learning_rate: Input should be greater
than 0 (got -0.1)``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import re
import tomllib
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError

from rlit.errors import ConfigError

T = TypeVar("T")

# Field constraints, used as ``Annotated[float, POSITIVE]`` in stage dataclasses.
POSITIVE = Field(gt=0)  # learning rates, temperatures, clip ranges
NON_NEGATIVE = Field(ge=0)  # coefficients, weight decay, warm-up
AT_LEAST_1 = Field(ge=1)  # steps, batch sizes, epochs, token counts
UNIT_OPEN_CLOSED = Field(gt=0, le=1)  # top_p, shares in (0, 1]
UNIT_CLOSED = Field(ge=0, le=1)  # probabilities, discounts in [0, 1]


def _device(value: str) -> str:
    """Validate (not rewrite: ``auto`` keeps its meaning for accelerate) a device name."""
    from rlit.devices import check_device

    try:
        check_device(value, "device")
    except ConfigError as exc:  # pydantic adds the file and key; keep only the reason
        raise ValueError(str(exc).split(": ", 1)[-1]) from None
    return value


Device = Annotated[str, AfterValidator(_device)]


def path_field(help: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    """A dataclass field holding a file or folder path, resolved against its config file's folder."""
    return dataclasses.field(default=default, metadata={"help": help, "path": True}, **kw)


def model_field(help: str, default: Any = dataclasses.MISSING) -> Any:
    """A dataclass field naming a model: a folder (resolved when it exists), a hub id or ``builtin:``."""
    return dataclasses.field(default=default, metadata={"help": help, "model": True})


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error is a ConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None


# -- command-line overrides (``--set key=value``) -----------------------------------------------


def parse_set(item: str) -> tuple[list[str], Any]:
    """``"ppo.learning_rate=1e-5"`` -> ``(["ppo", "learning_rate"], 1e-05)``: the value is read as
    a TOML value (number, bool, string, array, inline table), else kept as the string given."""
    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() for p in parts):
        raise ConfigError(f"--set {item}: expected key=value (dotted keys for tables, e.g. ppo.learning_rate=1e-5)")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word: a string, as a shell user means it
    return [p.strip() for p in parts], value


def apply_overrides(data: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` (parsed TOML) with each ``--set key=value`` applied, before validation,
    so an override is checked exactly like the same key written in the file."""
    if not sets:
        return data
    out = copy.deepcopy(data)
    for item in sets:
        parts, value = parse_set(item)
        table = out
        for i, part in enumerate(parts[:-1]):
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {item}: {'.'.join(parts[:i + 1])!r} is not a table")
        table[parts[-1]] = value
    return out


@contextlib.contextmanager
def naming_overrides(sets: Sequence[str]) -> Iterator[None]:
    """A config error about a key that a ``--set`` gave names that ``--set`` (the file never held
    the bad value). The override whose dotted key matches most of the message wins."""
    try:
        yield
    except ConfigError as exc:
        culprit = _culprit(str(exc), sets)
        if culprit is None:
            raise
        raise ConfigError(f"--set {culprit}: {exc}") from None


def _culprit(message: str, sets: Sequence[str]) -> str | None:
    best, best_hits = None, 0
    for item in sets:
        with contextlib.suppress(ConfigError):
            parts, _ = parse_set(item)
            if not re.search(rf"\b{re.escape(parts[-1])}\b", message):
                continue
            hits = sum(1 for p in parts if re.search(rf"\b{re.escape(p)}\b", message))
            if hits > best_hits:
                best, best_hits = ".".join(parts), hits
    return best


def read_config(path: str | Path, sets: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`read_toml` with ``--set`` overrides applied (dotted keys relative to the file's top)."""
    return apply_overrides(read_toml(path), sets)


def build(cls: type[T], data: dict[str, Any], where: str, base: str | Path | None = None) -> T:
    """Validate ``data`` against dataclass ``cls``; ``where`` prefixes errors (e.g. ``"sft.toml: [sft]"``).

    ``base``: the folder of the config file the table came from; relative path fields resolve
    against it (unset: they are left as given, e.g. already absolute).
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    _check_keys(cls, data, where)
    _finite_floats(cls)
    try:
        obj = TypeAdapter(cls).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(_message(exc, where)) from None
    if base is not None:
        resolve_fields(obj, Path(base))
    return obj


def _message(exc: ValidationError, where: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if not loc:  # a cross-key rule (__post_init__): its message names the keys
        return f"{where}: {msg}"
    sep = " " if where.endswith("]") else ": "
    return f"{where}{sep}{loc}: {msg} (got {err.get('input')!r})"


def _finite_floats(cls: type) -> None:
    """NaN and inf are never a setting: every dataclass (nested ones too) validates floats as finite."""
    if "__pydantic_config__" not in cls.__dict__:
        cls.__pydantic_config__ = ConfigDict(allow_inf_nan=False)  # type: ignore[attr-defined]
    for hint in typing.get_type_hints(cls).values():
        for t in typing.get_args(hint) or (hint,):
            if dataclasses.is_dataclass(t) and isinstance(t, type):
                _finite_floats(t)


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


# -- paths -------------------------------------------------------------------------------------


def resolve_path(value: str, base: Path) -> str:
    """A relative file path against ``base`` (a config file's folder); absolute ones and
    ``scheme:spec`` names (builtin:, hf:, a plugin's prompt set) are returned unchanged."""
    if ":" in value[:12] or Path(value).expanduser().is_absolute():
        return str(Path(value).expanduser()) if value.startswith("~") else value
    return str((base / value).resolve())


def resolve_model(value: str, base: Path) -> str:
    """A model name: a folder relative to ``base`` when it exists there (or is written ``./x``,
    ``../x``), otherwise unchanged (a hub id ``org/name`` or a ``builtin:`` name)."""
    if ":" in value[:12] or Path(value).expanduser().is_absolute():
        return value
    if value.startswith(("./", "../", "~")) or (base / value).exists():
        return resolve_path(value, base)
    return value


def resolve_fields(obj: Any, base: Path) -> Any:
    """Resolve every path/model field of dataclass ``obj`` (and nested ones) against ``base``, in place."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            resolve_fields(value, base)
        elif f.metadata.get("path"):
            setattr(obj, f.name, _resolve_each(value, lambda v: resolve_path(v, base)))
        elif f.metadata.get("model"):
            setattr(obj, f.name, _resolve_each(value, lambda v: resolve_model(v, base)))
    return obj


def _resolve_each(value: Any, fix: typing.Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, list):
        return [fix(v) if isinstance(v, str) else v for v in value]
    return value  # None, or an inline table (e.g. a reward config given in place of its path)


def config_folder(path: str | Path) -> Path:
    """The folder relative paths in config file ``path`` resolve against."""
    return Path(path).resolve().parent


# -- loading -----------------------------------------------------------------------------------


def load(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Read ``path`` (optionally one ``[section]`` of it) into dataclass ``cls``; paths resolve against its folder."""
    data = read_toml(path)
    where = str(path)
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: missing [{section}] table")
        data, where = data[section], f"{path}: [{section}]"
    return build(cls, data, where, config_folder(path))


def load_stage(cls: type[T], path: str | Path, section: str, sets: Sequence[str] = ()) -> T:
    """A stage config: the ``[section]`` table when the file has one (a pipeline file), else the
    whole file. Relative paths resolve against the file's folder (never the working directory).
    ``sets``: ``--set key=value`` overrides, applied to the file's dict before validation."""
    data = read_config(path, sets)
    with naming_overrides(sets):
        if section in data and isinstance(data[section], dict):
            return build(cls, data[section], f"{path}: [{section}]", config_folder(path))
        return build(cls, data, str(path), config_folder(path))


def help_text(cls: type) -> dict[str, str]:
    """Each field's ``metadata['help']``, for docs and ``--help`` output."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
