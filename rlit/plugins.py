"""Plugin discovery: pluggy over the ``rlit`` entry-point group, each entry point loaded alone.

A plugin that fails to import or register is recorded (plugin, distribution, error) and the
others still load, unless strict mode is on (``--strict-plugins`` or ``RLIT_STRICT_PLUGINS=1``),
which makes the first failure a ``PluginError``. ``RLIT_PLUGINS_ALLOW`` / ``RLIT_PLUGINS_BLOCK``
(comma-separated entry-point names, or the ``--allow-plugins`` / ``--block-plugins`` flags) choose
which plugins load at all. Two reward sources with the same name make that name unusable: using
it is an error naming both distributions (and strict mode fails at load time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pluggy

from rlit import hookspecs
from rlit.configfile import did_you_mean
from rlit.errors import PluginError
from rlit.rewards.build import build_reward
from rlit.rewards.composite import CompositeReward
from rlit.rewards.config import RewardConfig
from rlit.rewards.source import RewardSource

GROUP = "rlit"


@dataclass
class PluginInfo:
    """One loaded plugin, as ``rlit plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    location: str | None = None  # the file the plugin module was imported from
    hooks: list[str] = field(default_factory=list)
    rewards: list[str] = field(default_factory=list)
    prompt_sets: list[str] = field(default_factory=list)
    model_evaluators: list[str] = field(default_factory=list)


@dataclass
class LoadFailure:
    """A plugin that could not be imported or registered, or a conflict it caused."""

    plugin: str
    distribution: str | None
    error: str


@dataclass
class RegisteredSource:
    cls: type[RewardSource]
    plugin: str
    distribution: str | None

    def owner(self) -> str:
        return f"plugin {self.plugin!r} ({self.distribution or 'no distribution'})"


def _names(raw: str | None) -> frozenset[str] | None:
    return None if raw is None else frozenset(n.strip() for n in raw.split(",") if n.strip())


@dataclass
class PluginSettings:
    """Which plugins load, and whether a load failure is fatal."""

    allow: frozenset[str] | None = None  # None: every installed plugin
    block: frozenset[str] = frozenset()
    strict: bool = False

    @classmethod
    def from_env(cls) -> "PluginSettings":
        strict = os.environ.get("RLIT_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes", "on")
        block = _names(os.environ.get("RLIT_PLUGINS_BLOCK")) or frozenset()
        return cls(allow=_names(os.environ.get("RLIT_PLUGINS_ALLOW")), block=block, strict=strict)


class PluginRegistry:
    """A plugin manager plus what its plugins registered. ``get_registry()`` gives the shared one."""

    def __init__(self, settings: PluginSettings | None = None):
        self.settings = settings or PluginSettings.from_env()
        self.pm = pluggy.PluginManager("rlit")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.failures: list[LoadFailure] = []
        self.sources: dict[str, RegisteredSource] = {}
        self.conflicts: dict[str, list[RegisteredSource]] = {}  # source name -> other registrations
        self.prompt_sets: dict[str, Callable[[str], list[dict]]] = {}  # scheme -> loader(spec)
        self.prompt_set_plugins: dict[str, str] = {}  # scheme -> plugin name
        self.model_evaluators: dict[str, Any] = {}  # name -> evaluator (check, run)
        self.model_evaluator_plugins: dict[str, str] = {}  # name -> plugin name

    # -- loading -----------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Load every entry point of the ``rlit`` group that the allow/block lists let through."""
        eps = list(metadata.entry_points(group=GROUP))
        self._check_listed_names({ep.name for ep in eps})
        for ep in eps:
            if self.settings.allow is not None and ep.name not in self.settings.allow:
                continue
            if ep.name in self.settings.block:
                continue
            dist = ep.dist.name if ep.dist else None
            version = ep.dist.version if ep.dist else None
            if ep.name in self.plugins:
                other = self.plugins[ep.name].distribution
                self._fail(ep.name, dist, f"entry point name {ep.name!r} is already used by distribution {other!r}; not loaded")
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not stop the others
                self._fail(ep.name, dist, f"import failed: {type(exc).__name__}: {exc}")
                continue
            self.add_plugin(module, ep.name, dist, version)

    def _check_listed_names(self, installed: set[str]) -> None:
        for kind, names in (("allow", self.settings.allow or ()), ("block", self.settings.block)):
            for name in sorted(set(names) - installed):
                self._fail(name, None, f"the {kind}-list names it, but " + unknown_name_message("plugin", name, installed))

    def add_plugin(self, plugin: Any, name: str, distribution: str | None = None, version: str | None = None) -> None:
        """Register a plugin object (module or instance) and collect what it registers."""
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()  # hook implementations whose hook does not exist
        except Exception as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._fail(name, distribution, f"registration failed: {type(exc).__name__}: {exc}")
            return
        hooks = sorted(c.name for c in self.pm.get_hookcallers(plugin) or [])
        location = getattr(plugin, "__file__", None) or getattr(type(plugin), "__module__", None)
        info = PluginInfo(name, distribution, version, location, hooks)
        self.plugins[name] = info
        try:
            rewards = self._call_hook(plugin, "register_rewards", lambda cls: cls)
            prompt_sets = self._call_hook(plugin, "register_prompt_sets", lambda scheme, loader: (scheme, loader))
            evaluators = self._call_hook(plugin, "register_model_evaluators", lambda name, evaluator: (name, evaluator))
        except Exception as exc:
            self.remove_plugin(name)
            self._fail(name, distribution, f"{exc.args[0]}")
            return
        for cls in rewards:
            self._add_source(cls, info)
        for scheme, loader in prompt_sets:
            self._add_named("prompt-set scheme", self.prompt_sets, self.prompt_set_plugins, scheme, loader, info, info.prompt_sets)
        for evaluator_name, evaluator in evaluators:
            self._add_named("model evaluator", self.model_evaluators, self.model_evaluator_plugins, evaluator_name, evaluator,
                            info, info.model_evaluators)

    def _call_hook(self, plugin: Any, hook: str, pack: Callable[..., Any]) -> list[Any]:
        """Call one plugin's implementation of a register-style hook alone; return what it registered."""
        found: list[Any] = []
        register = lambda *args: found.append(pack(*args))  # noqa: E731
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                impl.function(*[{"register": register}[a] for a in impl.argnames])
            except Exception as exc:
                raise RuntimeError(f"{hook} raised {type(exc).__name__}: {exc}") from exc
        return found

    def _add_source(self, cls: Any, info: PluginInfo) -> None:
        problem = _check_source_class(cls)
        if problem:
            self._fail(info.name, info.distribution, problem)
            return
        new = RegisteredSource(cls, info.name, info.distribution)
        info.rewards.append(cls.name)
        if cls.name not in self.sources:
            self.sources[cls.name] = new
            return
        self.conflicts.setdefault(cls.name, []).append(new)
        self._fail(info.name, info.distribution, self._duplicate_message(cls.name))

    def _duplicate_message(self, name: str) -> str:
        owners = [self.sources[name], *self.conflicts.get(name, [])]
        return f"reward source name {name!r} is registered twice: by " + " and by ".join(o.owner() for o in owners)

    def _add_named(self, kind: str, table: dict[str, Any], owners: dict[str, str], name: str, value: Any,
                   info: PluginInfo, listed: list[str]) -> None:
        """Keep the first registration of a name (a prompt-set scheme, a model evaluator); a second
        is recorded as a load failure naming the first."""
        if name in table:
            self._fail(info.name, info.distribution, f"{kind} {name!r} is already registered by plugin {owners[name]!r}; ignored")
            return
        table[name], owners[name] = value, info.name
        listed.append(name)

    def remove_plugin(self, name: str) -> None:
        """Unregister a plugin and forget everything it registered (for tests of temporary plugins)."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.plugins.pop(name, None)
        for source_name in list(self.conflicts):
            others = [o for o in self.conflicts[source_name] if o.plugin != name]
            if self.sources[source_name].plugin == name and others:
                self.sources[source_name] = others.pop(0)
            self.conflicts[source_name] = others
            if not others:
                del self.conflicts[source_name]
        self.sources = {k: v for k, v in self.sources.items() if v.plugin != name}
        for scheme in [s for s, p in self.prompt_set_plugins.items() if p == name]:
            del self.prompt_sets[scheme], self.prompt_set_plugins[scheme]
        for evaluator_name in [e for e, p in self.model_evaluator_plugins.items() if p == name]:
            del self.model_evaluators[evaluator_name], self.model_evaluator_plugins[evaluator_name]

    def _fail(self, plugin: str, distribution: str | None, error: str) -> None:
        if self.settings.strict:
            raise PluginError(f"plugin {plugin!r} ({distribution or 'no distribution'}): {error}")
        self.failures.append(LoadFailure(plugin, distribution, error))

    # -- lookup ------------------------------------------------------------------------------
    def source_class(self, name: str) -> type[RewardSource]:
        """The class registered under ``name``; a ``PluginError`` (with close matches) if none, or if two plugins claim it."""
        if name in self.conflicts:
            raise PluginError(self._duplicate_message(name) + "; uninstall or block one of them (--block-plugins)")
        try:
            return self.sources[name].cls
        except KeyError:
            raise PluginError(unknown_name_message("reward source", name, self.sources)) from None

    def prompt_set_loader(self, scheme: str) -> Callable[[str], list[dict]]:
        """The loader registered for a prompt-set scheme; a ``PluginError`` with close matches if none."""
        try:
            return self.prompt_sets[scheme]
        except KeyError:
            raise PluginError(unknown_name_message("prompt-set scheme", scheme, self.prompt_sets)) from None

    def model_evaluator(self, name: str) -> Any:
        """The evaluator registered under ``name``; a ``PluginError`` with close matches if none."""
        try:
            return self.model_evaluators[name]
        except KeyError:
            raise PluginError(unknown_name_message("model evaluator", name, self.model_evaluators)) from None


def _check_source_class(cls: Any) -> str | None:
    if not (isinstance(cls, type) and issubclass(cls, RewardSource)):
        return f"registered {cls!r}, which is not a subclass of rlit.RewardSource"
    if not cls.name or not isinstance(cls.name, str):
        return f"reward source class {cls.__name__} has no name"
    return None


def unknown_name_message(kind: str, name: str, known: Any) -> str:
    """``unknown <kind> 'x'; did you mean 'y'? (available: ...)`` for registry look-ups."""
    hint = did_you_mean(name, known, "; ", n=3)
    listed = ", ".join(sorted(known)) or "none installed"
    return f"unknown {kind} {name!r}{hint} (available: {listed})"


_registry: PluginRegistry | None = None


def get_registry(settings: PluginSettings | None = None, reload: bool = False) -> PluginRegistry:
    """The process-wide registry, loading entry points on first use.

    Passing ``settings`` equal to the current ones reuses the registry (so plugins registered by
    a test stay visible to the CLI); different settings, or ``reload=True``, build a new one.
    """
    global _registry
    if _registry is None or reload or (settings is not None and settings != _registry.settings):
        _registry = PluginRegistry(settings)
        _registry.load_entry_points()
    return _registry


def load_reward(config: str | Path | dict | RewardConfig, *, registry: PluginRegistry | None = None,
                origin: str | None = None, base_dir: str | Path | None = None) -> CompositeReward:
    """The composite reward of a config (a TOML path, a dict or a ``RewardConfig``): registered
    sources come from ``registry`` (default: the process-wide one, ``get_registry()``), ``function =``
    entries are imported. ``origin`` names a dict config in error messages (e.g. ``"ppo.toml:
    [reward]"``); ``base_dir`` is where a dict config's relative paths resolve (default: the
    current folder). The one way to build a reward from a config (``rlit.load_reward``)."""
    return build_reward(config, registry if registry is not None else get_registry(), origin=origin, base_dir=base_dir)
