"""Overriding a preset's settings: Python values (``epochs=5``, ``generator={"z_dim": 100}``)
or the text of ``key=value`` pairs, type-checked, into a new preset."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError
from .interfaces import COMPONENT_FIELDS, ComponentRef, Preset, TrainSettings

TRAIN_FIELDS = {f.name: type(f.default) for f in dataclasses.fields(TrainSettings)}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def settable_keys() -> list[str]:
    """Every key an override may name."""
    return [*TRAIN_FIELDS, *COMPONENT_FIELDS, *(f"{k}.<kwarg>" for k in COMPONENT_FIELDS),
            "callbacks"]


def _unknown(key: str) -> ConfigError:
    known = [*TRAIN_FIELDS, *COMPONENT_FIELDS, "callbacks"]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown setting {key!r}.{hint} Settable: {', '.join(settable_keys())}.")


def _from_text(key: str, raw: str, kind: type) -> Any:
    text = raw.strip()
    if kind is bool and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    try:
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        pass
    shown = raw if raw.isprintable() else repr(raw)  # the message stays one line
    raise ConfigError(f"{key}={shown}: expected {kind.__name__}, got {raw!r}")


def parse_pairs(items: Iterable[str]) -> dict[str, Any]:
    """``key=value`` texts as Python values: a training setting by its type, a component
    keyword as JSON when it parses (numbers, lists, true) and as a string otherwise."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"expects key=value, got {item!r}")
        if key in TRAIN_FIELDS:
            out[key] = _from_text(key, raw, TRAIN_FIELDS[key])
        elif key in COMPONENT_FIELDS:
            out[key] = raw.strip()
        else:
            try:
                out[key] = json.loads(raw)
            except ValueError:
                out[key] = raw
    return out


def _train_value(key: str, value: Any) -> Any:
    kind = TRAIN_FIELDS[key]
    ok = (isinstance(value, bool) if kind is bool else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, (int, float)) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}")
    if kind is float:
        if not math.isfinite(value):
            raise ConfigError(f"{key}={value}: must be a finite number")
        return float(value)
    return value


def _ref(key: str, value: Any, current: ComponentRef | None = None) -> ComponentRef:
    """A component reference from a name, a ``{"name": ..., "kwargs": ...}`` mapping, a
    mapping of keywords to merge into ``current``'s, or a ComponentRef."""
    if isinstance(value, ComponentRef):
        return value
    if isinstance(value, str) and value.strip():
        return ComponentRef(value.strip(), {})
    if isinstance(value, Mapping) and ("name" in value or current is None):
        name = value.get("name")
        kwargs = value.get("kwargs", {})
        if not isinstance(name, str) or not isinstance(kwargs, Mapping) or set(value) - {
                "name", "kwargs"}:
            raise ConfigError(f"{key}: expected {{'name': str, 'kwargs': {{...}}}}, got "
                              f"{dict(value)!r}")
        return ComponentRef(name, kwargs)
    if isinstance(value, Mapping):
        return ComponentRef(current.name, {**current.kwargs, **value})
    raise ConfigError(f"{key}: expected a component name or a mapping of its keywords, got "
                      f"{value!r}")


def apply_overrides(preset: Preset, overrides: Mapping[str, Any]) -> Preset:
    """A copy of ``preset`` with each override applied and type-checked.

    Keys are training settings (``batch_size=128``), a component to swap
    (``loss="hinge"``), keywords to merge into a component's (``generator={"z_dim": 100}``),
    one component keyword (``"generator.z_dim": 100``) or the preset's ``callbacks`` (a list
    of names or ``{"name", "kwargs"}`` mappings).
    """
    train: dict[str, Any] = {}
    refs = {kind: getattr(preset, kind) for kind in COMPONENT_FIELDS}
    callbacks = preset.callbacks
    for key, value in overrides.items():
        kind, dot, kwarg = key.partition(".")
        if key in TRAIN_FIELDS:
            train[key] = _train_value(key, value)
        elif kind in COMPONENT_FIELDS and not dot:
            refs[kind] = _ref(key, value, refs[kind])
        elif kind in COMPONENT_FIELDS and kwarg:
            refs[kind] = ComponentRef(refs[kind].name, {**refs[kind].kwargs, kwarg: value})
        elif key == "callbacks":
            if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
                raise ConfigError(f"callbacks: expected a list, got {value!r}")
            callbacks = tuple(_ref("callbacks", item) for item in value)
        else:
            raise _unknown(key)
    return dataclasses.replace(preset, train=dataclasses.replace(preset.train, **train),
                               callbacks=callbacks, **refs)
