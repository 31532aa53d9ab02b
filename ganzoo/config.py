"""Resolving a preset with command-line overrides (``--set key=value``) into a run's config."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Iterable
from typing import Any

from .errors import ConfigError
from .interfaces import COMPONENT_KINDS, ComponentRef, Preset, TrainSettings

TRAIN_FIELDS = {f.name: f for f in dataclasses.fields(TrainSettings)}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _coerce(key: str, raw: str, kind: type) -> Any:
    text = raw.strip()
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
    elif kind is int:
        try:
            return int(text)
        except ValueError:
            pass
    elif kind is float:
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(value):
                return value
            raise ConfigError(f"--set {key}={raw}: must be a finite number")
    raise ConfigError(f"--set {key}={raw}: expected {kind.__name__}, got {raw!r}")


def _literal(raw: str) -> Any:
    """A component keyword value: JSON if it parses (numbers, lists, true), else a string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value
    return out


def settable_keys() -> list[str]:
    return [*TRAIN_FIELDS, *COMPONENT_KINDS, *(f"{k}.<kwarg>" for k in COMPONENT_KINDS)]


def apply_overrides(preset: Preset, overrides: dict[str, str]) -> Preset:
    """A copy of ``preset`` with each ``key=value`` applied and type-checked.

    Keys are training settings (``batch_size``), a component to swap (``generator=mlp``) or a
    component keyword (``generator.z_dim=100``).
    """
    train: dict[str, Any] = {}
    refs = {kind: getattr(preset, kind) for kind in COMPONENT_KINDS}
    for key, raw in overrides.items():
        kind, dot, kwarg = key.partition(".")
        if key in TRAIN_FIELDS:
            field_type = type(TRAIN_FIELDS[key].default)
            train[key] = _coerce(key, raw, field_type)
        elif kind in COMPONENT_KINDS and not dot:
            refs[kind] = ComponentRef(raw.strip(), {})
        elif kind in COMPONENT_KINDS and kwarg:
            refs[kind] = ComponentRef(refs[kind].name, {**refs[kind].kwargs, kwarg: _literal(raw)})
        else:
            close = difflib.get_close_matches(key, list(TRAIN_FIELDS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown setting {key!r}.{hint} Settable: "
                              f"{', '.join(settable_keys())}.")
    return dataclasses.replace(preset, train=dataclasses.replace(preset.train, **train), **refs)
