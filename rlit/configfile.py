"""The one config layer: TOML files (or dicts), ``--set key=value`` overrides, pydantic models.

Every config of the project (the stages: SFT, preference pairs, reward model, PPO, GRPO/RLOO; the
pipeline; reward configs; eval suites) is a pydantic model validated by :func:`build`, which

- rejects unknown keys with a "did you mean", in nested tables too (``extra="forbid"``);
- rejects NaN and infinity in every float (``allow_inf_nan=False``);
- enforces the constraints written into the field types (``Annotated[float, POSITIVE]``, ...);
- checks ``Device`` fields with :func:`rlit.devices.check_device` (``device = "banana"`` fails at
  load, not after the data is read);
- resolves ``ConfigPath`` fields against the folder of the config file that names them, and
  ``ModelName`` fields when that folder holds such a folder (else they stay hub ids or
  ``builtin:`` names): the one path resolver, :func:`resolve_path`.

A field's help is its ``Field(description=...)`` (TRL's ``metadata={"help": ...}``); the key
tables in docs/ are printed from it (:func:`reference_table`).

Every error is one ConfigError line from :func:`format_error`, e.g. ``run.toml: [ppo]
learning_rate: Input should be greater than 0 (got -0.1)``.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import re
import tomllib
import typing
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo

from rlit.devices import check_device
from rlit.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# Field constraints, used as ``Annotated[float, POSITIVE]`` in config models.
POSITIVE = Field(gt=0)  # learning rates, temperatures, clip ranges
NON_NEGATIVE = Field(ge=0)  # coefficients, weight decay, warm-up
AT_LEAST_1 = Field(ge=1)  # steps, batch sizes, epochs, token counts
UNIT_OPEN_CLOSED = Field(gt=0, le=1)  # top_p, shares in (0, 1]
UNIT_CLOSED = Field(ge=0, le=1)  # probabilities, discounts in [0, 1]


class ConfigModel(BaseModel):
    """Base of every config model. Defaults are validated too, so a default path resolves
    against the config file's folder like a written one; assignment stays free (``--out``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)


def _device(value: str) -> str:
    """Validate (not rewrite: ``auto`` keeps its meaning for accelerate) a device name."""
    try:
        check_device(value, "device")
    except ConfigError as exc:  # the formatter adds the file and key; keep only the reason
        raise ValueError(str(exc).split(": ", 1)[-1]) from None
    return value


def _base(info: ValidationInfo) -> Path | None:
    """The folder of the config file being validated (``build(..., base=)``); None: leave paths."""
    return (info.context or {}).get("base")


def _as_path(value: str, info: ValidationInfo) -> str:
    base = _base(info)
    return value if base is None else resolve_path(value, base)


def _as_model(value: str, info: ValidationInfo) -> str:
    base = _base(info)
    return value if base is None else resolve_model(value, base)


Device = Annotated[str, AfterValidator(_device)]
ConfigPath = Annotated[str, AfterValidator(_as_path)]  # a file or folder, relative to the config file
ModelName = Annotated[str, AfterValidator(_as_model)]  # a model folder (resolved when it exists), hub id or builtin:


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """Parse a TOML file; a missing file or a syntax error is a ConfigError naming the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: {what} not found")
    try:
        return tomllib.loads(p.read_bytes().decode("utf-8"))
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


def build(cls: type[M], data: Any, where: str, base: str | Path | None = None, *,
          names: bool = False, tables: bool = False, unknown: UnknownStyle = "named") -> M:
    """Validate ``data`` (a parsed TOML table) into model ``cls``: the one loader of every config.

    ``where`` prefixes errors (``"sft.toml"``, ``"run.toml: [ppo]"``); ``base``: the folder of the
    config file the table came from, which ``ConfigPath``/``ModelName`` fields resolve against
    (unset: they are left as given). ``names``, ``tables``, ``unknown``: see :func:`format_error`.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    try:
        return cls.model_validate(data, context={"base": Path(base) if base is not None else None})
    except ValidationError as exc:
        raise ConfigError(format_error(exc, where, cls, data if names else None, unknown, tables)) from None


# -- the one error formatter -------------------------------------------------------------------

# How an unknown key reads. named: ``sft.toml: unknown key 'lr' (did you mean ...?); valid keys:
# ...`` (stage files); listed: ``reward.toml: sources[0].wieght: unknown key; valid keys: ...; did
# you mean ...?`` (reward configs); pydantic: pydantic's own words plus the hint (suites). Three
# phrasings because the tests of each file type pin theirs; the rest of the line is shared.
UnknownStyle = Literal["named", "listed", "pydantic"]


def format_error(exc: ValidationError, where: str, cls: type[BaseModel] | None = None, data: Any = None,
                 unknown: UnknownStyle = "named", tables: bool = False) -> str:
    """One line for the first error of ``exc``: ``where``, the key's path, the message, the value.

    ``cls`` lists the valid keys of an unknown key's table; ``data``, when given, names array
    items by their ``name`` (``evals[0] ('a').limit``); ``tables``: the top-level keys are the
    file's TOML tables, shown as ``[ppo] learning_rate``. A validator whose message starts with
    ``.`` names a key below the one it checks (``sources[0]`` + ``.name: Field required``).
    """
    # Unknown keys first: a misspelt key usually explains the "Field required" that follows it.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err, loc = errors[0], tuple(errors[0]["loc"])
    more = {e["loc"][:1] for e in errors[1:]} - {loc[:1]}
    tail = f" (and {len(more)} more)" if more else ""
    if err["type"] == "extra_forbidden":
        return _unknown_key(loc, where, cls, data, unknown, tables, err["msg"]) + tail
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] not in ("missing",) and loc and not isinstance(err.get("input"), (dict, list)):
        msg += f" (got {_short(err.get('input'))})"
    return f"{_at(where, _located(loc, data, tables))}{'' if msg.startswith('.') else ': '}{msg}{tail}"


def _unknown_key(loc: tuple, where: str, cls: type[BaseModel] | None, data: Any, unknown: UnknownStyle,
                 tables: bool, pydantic_msg: str) -> str:
    key = str(loc[-1])
    model = _model_at(cls, loc[:-1]) if cls is not None else None
    valid = sorted(model.model_fields) if model is not None else []
    listing = f"; valid keys: {', '.join(valid)}" if valid else ""
    if unknown == "named":
        return f"{_at(where, _located(loc[:-1], data, tables))}: unknown key {key!r}{did_you_mean(key, valid)}{listing}"
    hint = did_you_mean(key, valid, "; ")
    if unknown == "listed":
        return f"{_at(where, _located(loc, data, tables))}: unknown key{listing}{hint}"
    return f"{_at(where, _located(loc, data, tables))}: {pydantic_msg}{hint}"


def _at(where: str, path: str) -> str:
    """``where`` and a key path: ``run.toml: [ppo] learning_rate`` (after a table header a space),
    ``p.toml: [ppo]: [generation] temperature``, ``reward.toml: sources[0].weight``."""
    if not path:
        return where
    after_header = re.search(r": \[[^\]]*\]$", where) and not path.startswith("[")
    return f"{where}{' ' if after_header else ': '}{path}"


def _located(loc: tuple, data: Any, tables: bool) -> str:
    if not (tables and loc and isinstance(loc[0], str)):
        return key_path(loc, data)
    rest = key_path(loc[1:], data.get(loc[0]) if isinstance(data, dict) else None)
    return f"[{loc[0]}]" + (f" {rest}" if rest else "")


def did_you_mean(name: str, options: Iterable[str], sep: str = " ", n: int = 1) -> str:
    """The one "did you mean" of the project: ``" (did you mean 'x'?)"`` for the closest of
    ``options`` (up to ``n``), ``"{sep}did you mean 'x'?"`` for another ``sep``; ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(options), n=n)
    if not close:
        return ""
    names = ", ".join(repr(c) for c in close)
    return f" (did you mean {names}?)" if sep == " " else f"{sep}did you mean {names}?"


def key_path(loc: tuple, data: Any = None) -> str:
    """``("sources", 0, "weight")`` -> ``sources[0].weight`` (``evals[0] ('a')`` with ``data``)."""
    out, node = "", data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            out += f"[{part}]" + (f" ({name!r})" if isinstance(name, str) else "")
        else:
            out += ("." if out else "") + str(part)
        try:
            node = node[part] if node is not None else None
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _model_at(cls: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model whose table sits at ``loc`` (list indexes skipped), for listing its keys."""
    model: type[BaseModel] | None = cls
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# -- paths: the one resolver -------------------------------------------------------------------


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


def config_folder(path: str | Path) -> Path:
    """The folder relative paths in config file ``path`` resolve against."""
    return Path(path).resolve().parent


# -- loading -----------------------------------------------------------------------------------


def load_stage(cls: type[M], path: str | Path, section: str, sets: Sequence[str] = ()) -> M:
    """A stage config: the ``[section]`` table when the file has one (a pipeline file), else the
    whole file. Relative paths resolve against the file's folder (never the working directory).
    ``sets``: ``--set key=value`` overrides, applied to the file's dict before validation."""
    data = read_config(path, sets)
    with naming_overrides(sets):
        if section in data and isinstance(data[section], dict):
            return build(cls, data[section], f"{path}: [{section}]", config_folder(path))
        return build(cls, data, str(path), config_folder(path))


def help_text(cls: type[BaseModel]) -> dict[str, str]:
    """Each field's ``description``, for docs and ``--help`` output."""
    return {name: f.description or "" for name, f in cls.model_fields.items()}


def reference_table(cls: type[BaseModel], title: str) -> list[str]:
    """A Markdown table of ``cls``'s keys (default, help) under ``### title``, for docs/."""
    lines = [f"### {title}", "", "| key | default | meaning |", "| --- | --- | --- |"]
    for name, f in cls.model_fields.items():
        if f.is_required():
            default = "required"
        elif f.default_factory is not None:
            value = f.default_factory()  # type: ignore[call-arg]
            default = "table" if isinstance(value, BaseModel) else repr(value)
        else:
            default = repr(f.default)
        lines.append(f"| `{name}` | `{default}` | {f.description or ''} |")
    return [*lines, ""]
