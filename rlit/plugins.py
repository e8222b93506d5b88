"""Plugin discovery: pluggy over the ``rlit`` entry-point group, each entry point loaded alone.

A plugin that fails to import or register is recorded and the others still load, unless strict
mode is on (``--strict-plugins`` or ``RLIT_STRICT_PLUGINS=1``). ``RLIT_PLUGINS_ALLOW`` /
``RLIT_PLUGINS_BLOCK`` (comma-separated entry-point names) choose which plugins load at all.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from rlit import hookspecs
from rlit.errors import PluginError
from rlit.rewards.source import RewardSource

GROUP = "rlit"


@dataclass
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    rewards: list[str] = field(default_factory=list)
    prompt_sets: list[str] = field(default_factory=list)


@dataclass
class LoadFailure:
    plugin: str
    distribution: str | None
    error: str


@dataclass
class RegisteredSource:
    cls: type[RewardSource]
    plugin: str
    distribution: str | None


@dataclass
class PluginSettings:
    allow: frozenset[str] | None = None
    block: frozenset[str] = frozenset()
    strict: bool = False

    @classmethod
    def from_env(cls) -> "PluginSettings":
        def names(var: str) -> frozenset[str] | None:
            raw = os.environ.get(var)
            return None if raw is None else frozenset(n.strip() for n in raw.split(",") if n.strip())

        strict = os.environ.get("RLIT_STRICT_PLUGINS", "").lower() in ("1", "true", "yes")
        return cls(allow=names("RLIT_PLUGINS_ALLOW"), block=names("RLIT_PLUGINS_BLOCK") or frozenset(), strict=strict)


class PluginRegistry:
    """A plugin manager plus what its plugins registered. ``get_registry()`` gives the shared one."""

    def __init__(self, settings: PluginSettings | None = None):
        self.settings = settings or PluginSettings.from_env()
        self.pm = pluggy.PluginManager("rlit")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.failures: list[LoadFailure] = []
        self.sources: dict[str, RegisteredSource] = {}
        self.prompt_sets: dict[str, Any] = {}  # scheme -> loader(spec) -> list[dict]
        self._collected: set[str] = set()

    # -- loading -----------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=GROUP):
            if self.settings.allow is not None and ep.name not in self.settings.allow:
                continue
            if ep.name in self.settings.block or self.pm.has_plugin(ep.name):
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not stop the others
                self._fail(ep.name, dist, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.add_plugin(module, ep.name, dist, version)

    def add_plugin(self, plugin: Any, name: str, distribution: str | None = None, version: str | None = None) -> None:
        """Register a plugin object (module or instance) and collect what it registers."""
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(name, distribution, f"registration failed: {exc}")
            return
        hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
        info = PluginInfo(name, distribution, version, hooks)
        self.plugins[name] = info
        self._collect_rewards(plugin, info)
        self._collect_prompt_sets(plugin, info)

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin and forget what it registered (for tests of temporary plugins)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.plugins.pop(name, None)
        self.sources = {k: v for k, v in self.sources.items() if v.plugin != name}

    def _fail(self, plugin: str, distribution: str | None, error: str) -> None:
        failure = LoadFailure(plugin, distribution, error)
        if self.settings.strict:
            raise PluginError(f"plugin {plugin!r} ({distribution or 'no distribution'}): {error}")
        self.failures.append(failure)

    def _collect_rewards(self, plugin: Any, info: PluginInfo) -> None:
        impl = getattr(plugin, "register_rewards", None)
        if impl is None:
            return
        found: list[type] = []
        try:
            impl(register=found.append)
        except Exception as exc:
            self.remove_plugin(info.name)
            self._fail(info.name, info.distribution, f"register_rewards raised {type(exc).__name__}: {exc}")
            return
        for cls in found:
            problem = _check_source_class(cls)
            if problem:
                self._fail(info.name, info.distribution, problem)
                continue
            if cls.name in self.sources:
                other = self.sources[cls.name]
                raise PluginError(
                    f"reward source name {cls.name!r} is registered twice: by plugin {other.plugin!r} "
                    f"({other.distribution or 'no distribution'}) and by plugin {info.name!r} "
                    f"({info.distribution or 'no distribution'})"
                )
            self.sources[cls.name] = RegisteredSource(cls, info.name, info.distribution)
            info.rewards.append(cls.name)

    def _collect_prompt_sets(self, plugin: Any, info: PluginInfo) -> None:
        impl = getattr(plugin, "register_prompt_sets", None)
        if impl is None:
            return
        found: list[tuple[str, Any]] = []
        try:
            impl(register=lambda scheme, loader: found.append((scheme, loader)))
        except Exception as exc:
            self.remove_plugin(info.name)
            self._fail(info.name, info.distribution, f"register_prompt_sets raised {type(exc).__name__}: {exc}")
            return
        for scheme, loader in found:
            if scheme in self.prompt_sets:
                raise PluginError(f"prompt-set scheme {scheme!r} is registered twice (second by plugin {info.name!r})")
            self.prompt_sets[scheme] = loader
            info.prompt_sets.append(scheme)

    # -- lookup ------------------------------------------------------------------------------
    def source_class(self, name: str) -> type[RewardSource]:
        try:
            return self.sources[name].cls
        except KeyError:
            raise PluginError(unknown_name_message("reward source", name, self.sources)) from None


def _check_source_class(cls: Any) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, RewardSource)):
        return f"registered {cls!r}, which is not a subclass of rlit.RewardSource"
    if not cls.name:
        return f"reward source class {cls.__name__} has no name"
    return None


def unknown_name_message(kind: str, name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(sorted(known)) or "none installed"
    return f"unknown {kind} {name!r}{hint} (available: {listed})"


_registry: PluginRegistry | None = None


def get_registry(settings: PluginSettings | None = None, reload: bool = False) -> PluginRegistry:
    """The process-wide registry, loading entry points on first use."""
    global _registry
    if _registry is None or reload or settings is not None:
        _registry = PluginRegistry(settings)
        _registry.load_entry_points()
    return _registry
