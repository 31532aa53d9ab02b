"""The component registry, fed by plugins through pluggy: every model, loss, dataset,
evaluator, callback and preset comes from here.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pluggy

from .errors import ConfigError, PluginError
from .interfaces import Preset

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# kind -> hook name; the kind names are also what `ganzoo list KIND` accepts (plural forms too).
KINDS = {
    "preset": "ganzoo_register_presets",
    "generator": "ganzoo_register_generators",
    "discriminator": "ganzoo_register_discriminators",
    "loss": "ganzoo_register_losses",
    "dataset": "ganzoo_register_datasets",
    "evaluator": "ganzoo_register_evaluators",
    "callback": "ganzoo_register_callbacks",
    "optimizer": "ganzoo_register_optimizers",
    "augment": "ganzoo_register_augments",
    "schedule": "ganzoo_register_schedules",
}
PLURALS = {"preset": "presets", "generator": "generators", "discriminator": "discriminators",
           "loss": "losses", "dataset": "datasets", "evaluator": "evaluators",
           "callback": "callbacks", "optimizer": "optimizers", "augment": "augments",
           "schedule": "schedules"}


class HookSpecs:
    """One hook per component kind; each receives a ``register`` callable."""

    @hookspec
    def ganzoo_register_generators(self, register: Callable[..., None]) -> None:
        """``register(name, factory, *, summary="", aliases=())``; factory(**kw) -> Generator."""

    @hookspec
    def ganzoo_register_discriminators(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(**kwargs) -> Discriminator."""

    @hookspec
    def ganzoo_register_losses(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(**kwargs) -> GANLoss or Objective."""

    @hookspec
    def ganzoo_register_datasets(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(**kwargs) -> Dataset."""

    @hookspec
    def ganzoo_register_evaluators(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(in_shape, num_classes) -> Evaluator."""

    @hookspec
    def ganzoo_register_callbacks(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(**kwargs) -> Callback."""

    @hookspec
    def ganzoo_register_optimizers(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(params, *, lr, betas, capturable,
        **kwargs) -> torch.optim.Optimizer (``betas`` are the preset's beta1, beta2;
        ``capturable``: the optimizer will be replayed in a CUDA graph)."""

    @hookspec
    def ganzoo_register_augments(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(**kwargs) -> Augment."""

    @hookspec
    def ganzoo_register_schedules(self, register: Callable[..., None]) -> None:
        """``register(name, factory, ...)``; factory(**kwargs) -> Schedule."""

    @hookspec
    def ganzoo_register_presets(self, register: Callable[..., None]) -> None:
        """``register(preset)`` with a :class:`~ganzoo.interfaces.Preset`."""


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
    """All registered components, with who provided each and which plugins failed."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._aliases: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self.plugins: list[PluginInfo] = []
        self.warnings: list[str] = []
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(HookSpecs)

    # -- loading ---------------------------------------------------------------------------
    def add_plugin(self, plugin: object, name: str, provider: str) -> PluginInfo:
        """Register one plugin's hooks; a failure skips the plugin (or raises when strict)."""
        info = PluginInfo(name=name, provider=provider, module=getattr(plugin, "__name__", name))
        self.plugins.append(info)
        before = {kind: dict(entries) for kind, entries in self.entries.items()}
        aliases_before = {kind: dict(a) for kind, a in self._aliases.items()}
        try:
            self._pm.register(plugin, name=name)
            try:
                self._pm.check_pending()
                for kind, hook_name in KINDS.items():
                    for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                        if impl.plugin is plugin:
                            impl.function(register=self._registrar(kind, provider, info))
            finally:
                self._pm.unregister(plugin)
        except Exception as exc:  # a broken plugin must not take the rest down
            self.entries, self._aliases = before, aliases_before
            info.provides = {}
            info.error = f"{type(exc).__name__}: {exc}"
            self._fail(f"skipped plugin {provider} ({name} = {info.module}): {info.error}")
        return info

    def _registrar(self, kind: str, provider: str, info: PluginInfo) -> Callable[..., None]:
        def register(name: Any, obj: Any = None, *, summary: str = "",
                     aliases: tuple[str, ...] | list[str] = ()) -> None:
            if kind == "preset":
                preset = name if isinstance(name, Preset) else obj
                if not isinstance(preset, Preset):
                    raise TypeError(f"register() for presets takes a Preset, got {preset!r}")
                name, obj, summary = preset.name, preset, summary or preset.summary
            elif not callable(obj):
                raise TypeError(f"{kind} {name!r}: factory must be callable, got {obj!r}")
            if not isinstance(name, str) or not name:
                raise TypeError(f"{kind} name must be a non-empty string, got {name!r}")
            for key in (name, *aliases):
                taken = self._resolve_alias(kind, key)
                if taken is not None:
                    other = self.entries[kind][taken].provider
                    self._fail(f"{kind} {key!r} is registered by both {other} and {provider}; "
                               f"rename one. Keeping the one from {other}.")
                    return
            self.entries[kind][name] = Entry(kind, name, obj, summary, tuple(aliases), provider)
            for alias in aliases:
                self._aliases[kind][alias] = name
            info.provides.setdefault(kind, []).append(name)

        return register

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
        key = self._resolve_alias(kind, name)
        if key is not None:
            return self.entries[kind][key]
        known = [*self.entries[kind], *self._aliases[kind]]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"unknown {kind} {name!r}.{hint} See 'ganzoo list {PLURALS[kind]}'."
        )

    def list(self, kind: str, pattern: str = "*") -> list[Entry]:
        kind = normalize_kind(kind)
        return [e for name, e in sorted(self.entries[kind].items())
                if fnmatch.fnmatchcase(name, pattern)]

    def preset(self, name: str) -> Preset:
        return self.get("preset", name).obj


def normalize_kind(kind: str) -> str:
    for singular, plural in PLURALS.items():
        if kind in (singular, plural):
            return singular
    raise ConfigError(f"unknown kind {kind!r}; choose from {', '.join(PLURALS.values())}.")


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
