"""Finding presets and components: by name, from a preset file, or from a run's config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.config import apply_overrides
from ..core.errors import ConfigError
from ..core.interfaces import Preset
from ..core.plugins import Entry, get_registry
from ..core.presetfile import load_preset_file, looks_like_file, preset_to_toml


def resolve_preset(preset: str | Path | Preset, **settings: Any) -> Preset:
    """A :class:`Preset` itself, the one registered under a name, or the one in a preset
    file (``.toml``), a run's ``config.json`` or a run directory (its ``config.json``);
    with ``settings`` applied as ``--set`` applies them (:func:`ganzoo.settable_keys`:
    ``callbacks=[...]`` replaces the preset's)."""
    if settings:
        return apply_overrides(resolve_preset(preset), settings)
    if isinstance(preset, Preset):
        return preset
    if not isinstance(preset, (str, Path)):
        raise ConfigError(f"a preset is a name, a file or a Preset, got {preset!r}")
    text = str(preset)
    path = Path(text)
    if path.is_dir() and (path / "config.json").is_file():
        return load_preset_file(path / "config.json")
    if isinstance(preset, Path) or path.is_file() or looks_like_file(text):
        if not path.is_file():
            raise ConfigError(f"no preset file at {path}")
        return load_preset_file(path)
    return get_registry().preset(text)


def list_presets(pattern: str = "*") -> list[Entry]:
    """Registered presets whose names match the shell-style ``pattern``, by name; each
    entry's ``obj`` is the :class:`Preset`, ``provider`` the plugin that registered it."""
    return get_registry().list("preset", pattern)


def list_components(kind: str, pattern: str = "*") -> list[Entry]:
    """Registered components of one kind (``preset``, ``generator``, ``discriminator``,
    ``loss``, ``dataset``, ``evaluator``, ``callback``, ``optimizer``, ``augment`` or
    ``schedule``; plurals too) matching ``pattern``, by name."""
    return get_registry().list(kind, pattern)


def show_preset(preset: str | Path | Preset) -> str:
    """A preset as TOML, ready to copy, edit and train."""
    return preset_to_toml(resolve_preset(preset))
