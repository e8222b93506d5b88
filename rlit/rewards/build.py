"""Building a composite reward from a config: each ``[[sources]]`` entry resolved (a registered
source from the plugin registry it is given, or an imported ``function =``), its options checked
against the constructor or function, then constructed. The plugins layer's
``rlit.plugins.load_reward`` is the public way in; the registry is an argument here, so this
layer never imports the plugins layer.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from rlit.configfile import did_you_mean
from rlit.errors import ConfigError, PluginError, RlitError
from rlit.rewards.composite import CompositeReward, SourceEntry, make_cache
from rlit.rewards.config import RewardConfig, SourceConfig, load_reward_config
from rlit.rewards.functions import VERL_DEFAULT_COLUMNS, FunctionSource, function_parameters, load_function
from rlit.rewards.guard import _callable_hints, _validated, check_options, code_fingerprint, typed_options
from rlit.rewards.normalize import make_normalizer
from rlit.rewards.source import RewardSource


def build_reward(config: str | Path | dict | RewardConfig, registry: Any, origin: str | None = None,
                 base_dir: str | Path | None = None) -> CompositeReward:
    """A composite from a TOML path, dict or ``RewardConfig``; ``registry`` (a
    ``rlit.plugins.PluginRegistry``) resolves ``name =`` entries.

    ``origin`` names a dict config in error messages (e.g. ``"ppo.toml: [reward]"``);
    ``base_dir`` is where a dict config's relative paths resolve (default: the current folder).
    """
    cfg = load_reward_config(config, origin=origin, base_dir=base_dir)
    where = [f"{cfg.origin}: sources[{i}]" for i in range(len(cfg.sources))]
    # Check every entry (name, option names and types) before constructing any: a typo in the
    # last entry should not cost loading the reward model of the first.
    resolved = [resolve_source(registry, sc, w, cfg.base_dir) for sc, w in zip(cfg.sources, where)]
    entries = []
    for sc, w, r in zip(cfg.sources, where, resolved):
        source, tag = build_source(registry, sc, w, r, cfg.base_dir)
        norm = make_normalizer(sc.normalize or cfg.normalize)
        fingerprint = source.fingerprint if isinstance(source, FunctionSource) else code_fingerprint(type(source))
        entries.append(SourceEntry(sc.key, source, sc.weight, sc, norm, tag, _provenance(registry, sc, source), fingerprint))
    return CompositeReward(entries, cfg, make_cache(cfg))


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
    fn, _ = load_function(sc.function, base_dir, f"{where}.function")  # type: ignore[arg-type]
    names, takes_any = function_parameters(fn)
    label = f"function {sc.function!r}"
    reserved = {"solution_str", *VERL_DEFAULT_COLUMNS, *sc.columns} if sc.signature == "verl" else {"prompts", "completions", *sc.columns}
    for key in sc.options:
        if key in reserved:  # rlit fills these from the row: an option would silently replace them
            raise ConfigError(f"{where}.options.{key}: {key!r} is filled from each row for signature = {sc.signature!r}; it cannot be an option")
        if key not in names and not takes_any:
            raise ConfigError(f"{where}.options.{key}: {label} takes no keyword {key!r}{did_you_mean(key, sorted(names))}; "
                              f"its parameters: {', '.join(sorted(names)) or 'none'}")
    for key in sc.columns:
        if sc.signature == "trl" and key in ("prompts", "completions"):
            raise ConfigError(f"{where}.columns.{key}: {key!r} is the row's {key[:-1]}; map a column to another parameter")
        if key not in names and not takes_any:
            raise ConfigError(f"{where}.columns.{key}: {label} has no parameter {key!r}; its parameters: {', '.join(sorted(names)) or 'none'}")
    options = _validated(_callable_hints(fn), sc.options, where)
    factory = functools.partial(_function_source, sc, where, str(base_dir) if base_dir else None)
    return factory, options


def _function_source(sc: SourceConfig, where: str, base_dir: str | None, **options: Any) -> RewardSource:
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


def _provenance(registry: Any, sc: SourceConfig, source: RewardSource) -> str:
    if isinstance(source, FunctionSource):
        return f"function {source.spec} (sha256 {source.fingerprint[:16]})"
    reg = registry.sources.get(sc.name)
    info = registry.plugins.get(reg.plugin) if reg else None
    version = info.version if info and info.version else "(version unknown)"
    return f"{(reg.distribution or reg.plugin) if reg else '?'} {version}"
