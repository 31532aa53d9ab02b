"""The component registry, fed by plugins through pluggy: every component of every kind
(:mod:`~ganzoo.core.kinds`) and every preset comes from here.

Plugins are modules (or objects) with ``@hookimpl`` functions, found through the ``ganzoo``
entry-point group. Nothing is loaded at ``import ganzoo``: the registry is built on the first
lookup and cached. A plugin that fails is skipped with one warning naming it, unless
``GANZOO_STRICT_PLUGINS=1``. A plugin module that needs another plugin's components says so
in ``ganzoo_requires`` (entry-point names); it is skipped, with one warning, when one of them
did not load.

(Not to be confused with the top-level ``registry/`` folder: the catalogue of preset files,
a plugin like any other.)
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib.metadata as md
import os
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from .errors import ConfigError, PluginError
from .interfaces import Preset
from .kinds import BY_NAME, KINDS, Kind
from .presetfile import load_preset_file

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)



def _hookspecs() -> type:
    """One hook per kind (:data:`~ganzoo.core.kinds.KINDS`), each receiving ``register``:
    ``register(name, factory, *, summary="", aliases=())``."""
    def spec(kind: Kind):
        def hook(register: Callable[..., None]) -> None: ...

        hook.__name__ = hook.__qualname__ = kind.hook
        hook.__doc__ = f"Register {kind.plural}; the factory: {kind.factory}."
        return hookspec(hook)

    return type("HookSpecs", (), {kind.hook: staticmethod(spec(kind)) for kind in KINDS})


HookSpecs = _hookspecs()


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    obj: Any  # a factory, or a Preset for kind "preset"
    summary: str
    aliases: tuple[str, ...]
    provider: str  # "distribution version" of the plugin that registered it


@dataclass
class PluginInfo:
    name: str  # entry-point name (or the name given to in_process_plugin)
    provider: str  # "distribution version"
    module: str
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


class Registry:
    """All registered components, with who provided each and which plugins failed.

    Each plugin that loads stays registered with the registry's pluggy ``PluginManager``
    (``plugin_manager.get_plugins()``, ``get_name``); its hooks are called through pluggy
    one plugin at a time (``subset_hook_caller``), so a plugin that raises is unregistered
    and skipped with everything it registered, and each entry knows its provider."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.entries: dict[str, dict[str, Entry]] = {kind.name: {} for kind in KINDS}
        self._aliases: dict[str, dict[str, str]] = {kind.name: {} for kind in KINDS}
        self._clashes: dict[str, dict[str, str]] = {kind.name: {} for kind in KINDS}
        self.plugins: list[PluginInfo] = []
        self.warnings: list[str] = []
        self.plugin_manager = pluggy.PluginManager(PROJECT)
        self.plugin_manager.add_hookspecs(HookSpecs)

    # -- loading ---------------------------------------------------------------------------
    def add_plugin(self, plugin: object, name: str, provider: str) -> PluginInfo:
        """Register one plugin and call its hooks; a failure unregisters and skips the plugin
        (or raises when strict)."""
        pm = self.plugin_manager
        info = PluginInfo(name=name, provider=provider, module=getattr(plugin, "__name__", name))
        self.plugins.append(info)
        before = {kind: dict(entries) for kind, entries in self.entries.items()}
        aliases_before = {kind: dict(a) for kind, a in self._aliases.items()}
        clashes_before = {kind: dict(c) for kind, c in self._clashes.items()}
        plugin = _hashable(plugin)
        try:
            pm.register(plugin, name=name)
            try:
                pm.check_pending()  # a hook no kind has: a misspelt name
                others = [p for p in pm.get_plugins() if p is not plugin]
                for kind in KINDS:
                    call = pm.subset_hook_caller(kind.hook, remove_plugins=others)
                    call(register=self._registrar(kind.name, provider, info))
            except BaseException:
                pm.unregister(plugin)
                raise
        except Exception as exc:  # a broken plugin must not take the rest down
            self.entries, self._aliases, self._clashes = before, aliases_before, clashes_before
            info.provides = {}
            info.error = f"{type(exc).__name__}: {exc}"
            self._fail(f"skipped plugin {provider} ({name} = {info.module}): {info.error}")
        return info

    def _registrar(self, kind: str, provider: str, info: PluginInfo) -> Callable[..., None]:
        def register(name: Any, obj: Any = None, *, summary: str = "",
                     aliases: tuple[str, ...] | list[str] = ()) -> None:
            if kind == "preset":
                for preset in _presets(name, obj):
                    self._add(Entry(kind, preset.name, preset, summary or preset.summary, (),
                                    provider), info)
                return
            if not callable(obj):
                raise TypeError(f"{kind} {name!r}: factory must be callable, got {obj!r}")
            if not isinstance(name, str) or not name:
                raise TypeError(f"{kind} name must be a non-empty string, got {name!r}")
            self._add(Entry(kind, name, obj, summary, tuple(aliases), provider), info)

        return register

    def _add(self, entry: Entry, info: PluginInfo) -> None:
        """Register ``entry``; a name another plugin took already is a clash: the name then
        means neither (using it is one error naming both), and loading warns."""
        kind, name = entry.kind, entry.name
        for key in (name, *entry.aliases):
            taken = self._resolve_alias(kind, key)
            if taken is not None:
                both = f"{self.entries[kind][taken].provider} and {entry.provider}"
                self._clashes[kind][key] = both
                self._fail(f"{kind} {key!r} is registered by both {both}; it means neither "
                           "until one is renamed or disabled (GANZOO_DISABLE_PLUGINS)")
                return
        self.entries[kind][name] = entry
        for alias in entry.aliases:
            self._aliases[kind][alias] = name
        info.provides.setdefault(kind, []).append(name)

    def _fail(self, message: str) -> None:
        if self.strict:
            raise PluginError(message)
        self.warnings.append(message)
        print(f"ganzoo: warning: {message}", file=sys.stderr)

    # -- lookups ---------------------------------------------------------------------------
    def _resolve_alias(self, kind: str, name: str) -> str | None:
        if name in self.entries[kind]:
            return name
        return self._aliases[kind].get(name)

    def get(self, kind: str, name: str) -> Entry:
        """The entry called ``name`` (or an alias); an unknown name suggests the nearest ones."""
        kind = normalize_kind(kind)
        if name in self._clashes[kind]:
            raise ConfigError(f"{kind} {name!r} is registered by both "
                              f"{self._clashes[kind][name]}; rename one, or disable one with "
                              "GANZOO_DISABLE_PLUGINS=<its entry-point name>")
        key = self._resolve_alias(kind, name)
        if key is not None:
            return self.entries[kind][key]
        known = [*self.entries[kind], *self._aliases[kind]]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown {kind} {name!r}.{hint} See 'ganzoo list {BY_NAME[kind].plural}'."
        )

    def list(self, kind: str, pattern: str = "*") -> list[Entry]:
        kind = normalize_kind(kind)
        return [e for name, e in sorted(self.entries[kind].items())
                if fnmatch.fnmatchcase(name, pattern)]

    def preset(self, name: str) -> Preset:
        return self.get("preset", name).obj


def _presets(given: Any, preset: Any) -> list[Preset]:
    """What a plugin registers as presets: a :class:`Preset` (or a name and one), or a path
    to a preset file or a folder of them (``*.toml``, by name)."""
    if isinstance(given, os.PathLike):
        path = Path(given)
        files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
        if not files:
            raise ConfigError(f"{path}: no preset files (*.toml) in this folder")
        return [load_preset_file(f) for f in files]
    preset = given if isinstance(given, Preset) else preset
    if not isinstance(preset, Preset):
        raise TypeError(f"register() for presets takes a Preset or a path to preset files, "
                        f"got {preset!r}")
    return [preset]


def _hashable(plugin: object) -> object:
    """The plugin, or, where pluggy cannot hash it (a ``types.SimpleNamespace`` of hooks:
    pluggy tells plugins apart in sets), a module holding its attributes."""
    try:
        hash(plugin)
    except TypeError:
        module = types.ModuleType(getattr(plugin, "__name__", type(plugin).__name__))
        module.__dict__.update(vars(plugin))
        return module
    return plugin


def normalize_kind(kind: str) -> str:
    """A kind's name from its name or plural ("generators" -> "generator")."""
    for known in KINDS:
        if kind in (known.name, known.plural):
            return known.name
    raise ConfigError(f"unknown kind {kind!r}; choose from "
                      f"{', '.join(k.plural for k in KINDS)}.")


# -- the process-wide registry --------------------------------------------------------------
_cached: Registry | None = None
_in_process: list[tuple[object, str]] = []


def _env_list(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _entry_points() -> list[md.EntryPoint]:
    """The ``ganzoo`` entry points: this distribution's own first, then the rest by name."""
    eps = list(md.entry_points(group=PROJECT))
    first_party = [ep for ep in eps if ep.dist is not None and ep.dist.name == PROJECT]
    others = sorted((ep for ep in eps if ep not in first_party),
                    key=lambda ep: (ep.dist.name if ep.dist else "", ep.name))
    return first_party + others


def build_registry() -> Registry:
    """Load every allowed plugin into a new registry (see the module docstring)."""
    strict = os.environ.get("GANZOO_STRICT_PLUGINS", "") not in ("", "0")
    only = _env_list("GANZOO_LOAD_PLUGINS")
    disabled = _env_list("GANZOO_DISABLE_PLUGINS") or set()
    reg = Registry(strict=strict)
    seen: set[str] = set()
    loaded: list[tuple[object, str, str]] = []
    for ep in _entry_points():
        dist = ep.dist.name if ep.dist else "unknown"
        names = {ep.name, dist}
        if (only is not None and not names & only) or names & disabled or ep.name in seen:
            continue
        seen.add(ep.name)
        provider = f"{dist} {ep.dist.version}" if ep.dist else dist
        try:
            loaded.append((ep.load(), ep.name, provider))
        except Exception as exc:
            reg.plugins.append(PluginInfo(ep.name, provider, ep.value,
                                          error=f"{type(exc).__name__}: {exc}"))
            reg._fail(f"skipped plugin {provider} (entry point {ep.name} = {ep.value}): "
                      f"{type(exc).__name__}: {exc}")
    available = {name for _, name, _ in loaded}
    for plugin, name, provider in loaded:
        lacking = [r for r in getattr(plugin, "ganzoo_requires", ()) if r not in available]
        if lacking:
            error = f"it requires plugin {', '.join(lacking)}, which did not load"
            reg.plugins.append(PluginInfo(name, provider, plugin.__name__, error=error))
            reg._fail(f"skipped plugin {provider} ({name} = {plugin.__name__}): {error}")
            continue
        reg.add_plugin(plugin, name, provider)
    for plugin, name in _in_process:
        reg.add_plugin(plugin, name, f"{name} (in-process)")
    return reg


def get_registry() -> Registry:
    """The cached process-wide registry, built on first use."""
    global _cached
    if _cached is None:
        _cached = build_registry()
    return _cached


def reset_registry() -> None:
    """Forget the cached registry; the next lookup loads plugins again."""
    global _cached
    _cached = None


@contextlib.contextmanager
def in_process_plugin(plugin: object, name: str) -> Iterator[Registry]:
    """Register ``plugin`` (a module or object with hookimpls) for the duration of the block.

    Meant for tests and notebooks: the plugin is used exactly like an installed one.
    """
    _in_process.append((plugin, name))
    reset_registry()
    try:
        yield get_registry()
    finally:
        _in_process.remove((plugin, name))
        reset_registry()
