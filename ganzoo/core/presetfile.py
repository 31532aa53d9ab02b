"""Presets as data: TOML written by hand (or by ``ganzoo preset show``), a run's
``config.json``, a checkpoint's ``config``. All hold what :meth:`Preset.to_dict` gives, and
:func:`preset_from_data` reads each::

    name = "my-gan"
    summary = "One line on what it is and where its settings come from."
    generator = { name = "mlp", kwargs = { z_dim = 64, out_shape = [1, 28, 28] } }
    discriminator = { name = "mlp", kwargs = { in_shape = [1, 28, 28] } }
    loss = { name = "bce" }
    dataset = { name = "mnist" }
    optimizer_d = { name = "rmsprop" }   # optional, per network; default: fused Adam

    [train]        # any TrainSettings field; the rest keep their defaults
    epochs = 20

A file that does not fit gets one error naming the file, the key and what was expected.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from .config import TRAIN_FIELDS, apply_overrides
from .errors import ConfigError, GanzooError
from .interfaces import COMPONENT_KINDS, OPTIONAL_FIELDS, ComponentRef, Preset

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SUFFIXES = (".toml", ".json")
TOP_KEYS = ("name", "summary", *COMPONENT_KINDS, *OPTIONAL_FIELDS, "train", "callbacks")


def looks_like_file(text: str) -> bool:
    """Whether a preset argument names a file rather than a registered preset."""
    return text.endswith(SUFFIXES) or "/" in text or "\\" in text


def _fail(path: Path | str, key: str, expected: str, got: Any = None) -> ConfigError:
    shown = "" if got is None else f", got {got!r}"
    return ConfigError(f"{path}: {key}: expected {expected}{shown}")


def _component(path: Path | str, key: str, value: Any) -> ComponentRef:
    if isinstance(value, str):
        return ComponentRef(value, {})
    if not isinstance(value, Mapping):
        raise _fail(path, key, '{ name = "...", kwargs = { ... } }', value)
    for extra in set(value) - {"name", "kwargs"}:
        raise _fail(path, f"{key}.{extra}", "only name and kwargs")
    if not isinstance(value.get("name"), str) or not value["name"]:
        raise _fail(path, f"{key}.name", "a component name (a string)", value.get("name"))
    kwargs = value.get("kwargs", {})
    if not isinstance(kwargs, Mapping):
        raise _fail(path, f"{key}.kwargs", "a table of keyword arguments", kwargs)
    return ComponentRef(value["name"], kwargs)


def preset_from_data(data: Mapping[str, Any], path: Path | str) -> Preset:
    """A preset from what :meth:`Preset.to_dict` gives (a file's or a checkpoint's parsed
    contents), every key checked; ``path`` names the source in errors. The one reader of
    presets as data."""
    for key in data:
        if key not in TOP_KEYS:
            close = difflib.get_close_matches(key, TOP_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(path, key, f"one of {', '.join(TOP_KEYS)}{hint}")
    for key in ("name", "summary"):
        if key in data and not isinstance(data[key], str):
            raise _fail(path, key, "a string", data[key])
    if not data.get("name"):
        raise _fail(path, "name", "the preset's name (a string)")
    missing = [k for k in COMPONENT_KINDS if k not in data]
    if missing:
        raise _fail(path, missing[0], "a component, e.g. " + missing[0] + ' = { name = "..." }')
    refs = {k: _component(path, k, data[k]) for k in (*COMPONENT_KINDS, *OPTIONAL_FIELDS)
            if k in data}
    callbacks = data.get("callbacks", [])
    if not isinstance(callbacks, list):
        raise _fail(path, "callbacks", "a list of components", callbacks)
    train = data.get("train", {})
    if not isinstance(train, Mapping):
        raise _fail(path, "train", "a table of training settings", train)
    preset = Preset(name=data["name"], summary=data.get("summary", ""), **refs,
                    callbacks=tuple(_component(path, f"callbacks[{i}]", c)
                                    for i, c in enumerate(callbacks)))
    for key in train:
        if key not in TRAIN_FIELDS:
            close = difflib.get_close_matches(key, list(TRAIN_FIELDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _fail(path, f"train.{key}", f"a training setting{hint}")
    try:
        return apply_overrides(preset, dict(train))
    except GanzooError as exc:
        raise ConfigError(f"{path}: train.{exc.message}") from None


def load_preset_file(path: Path | str) -> Preset:
    """The preset in a TOML file or a run's ``config.json``."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"{path}: a preset file ends in .toml (or is a run's config.json)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read preset file {path}: {exc.strerror or exc}") from None
    try:
        data = (json.loads(raw) if path.suffix == ".json" else
                tomllib.loads(raw.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, Mapping):
        raise _fail(path, "(top level)", "a table")
    return preset_from_data(data, path)


def preset_to_toml(preset: Preset) -> str:
    """A preset as a TOML file that :func:`load_preset_file` reads back equal."""
    data = preset.to_dict()
    for kind in (*COMPONENT_KINDS, *OPTIONAL_FIELDS):
        if kind in data and not data[kind]["kwargs"]:
            del data[kind]["kwargs"]
    if not data["callbacks"]:
        del data["callbacks"]
    header = (f"# The {preset.name} preset. Edit it and train it with "
              "`ganzoo train FILE.toml`;\n# a [train] key left out takes its default.\n\n")
    return header + tomli_w.dumps(data)
