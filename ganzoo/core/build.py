"""Instantiating a preset's components from the registry, with checks that name the culprit."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import torch

from .context import DOutput, Lazy
from .errors import ConfigError, DataError, PluginError
from .interfaces import (
    Augment,
    ComponentRef,
    Dataset,
    Discriminator,
    GANLoss,
    Generator,
    Network,
    NoDiscriminator,
    Objective,
    Preset,
    Schedule,
)
from .kinds import BY_NAME
from .plugins import Registry, get_registry


@dataclass
class Components:
    generator: Generator
    discriminator: Discriminator
    loss: GANLoss | Objective
    dataset: Dataset
    augment: Augment | None = None  # what D sees every image through, if the preset names one
    schedules: dict[str, Schedule] = field(default_factory=dict)  # "g", "d": those named
    # the objective's own networks and persistent tensors
    networks: dict[str, Network] = field(default_factory=dict)
    state: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Components:
        """Move the models, the objective's networks and its state to ``device``."""
        self.generator.to(device)
        self.discriminator.to(device)
        for network in self.networks.values():
            network.module.to(device)
        self.state = {name: value.to(device) for name, value in self.state.items()}
        return self


def build_component(kind: str, ref: ComponentRef, registry: Registry | None = None):
    entry = (registry or get_registry()).get(kind, ref.name)
    try:
        obj = entry.obj(**ref.kwargs)
    except TypeError as exc:
        raise ConfigError(f"{kind} {ref.name!r} ({entry.provider}) rejected its settings "
                          f"{dict(ref.kwargs)}: {exc}") from None
    except DataError as exc:  # e.g. an image folder that is missing or holds no images
        raise DataError(f"{kind} {ref.name!r}: {exc}") from None
    except (ValueError, ConfigError) as exc:
        raise ConfigError(f"{kind} {ref.name!r}: {exc}") from None
    except Exception as exc:  # e.g. torch refusing a negative layer size
        detail = " ".join(str(exc).split())[:300]
        raise ConfigError(f"{kind} {ref.name!r} ({entry.provider}) could not be built with "
                          f"{dict(ref.kwargs)}: {type(exc).__name__}: {detail}") from None
    if not isinstance(obj, BY_NAME[kind].base):
        raise PluginError(f"{kind} {ref.name!r} from {entry.provider} built a "
                          f"{type(obj).__name__}, not a ganzoo {BY_NAME[kind].bases}")
    return obj


def build_optimizer(ref: ComponentRef, params, *, lr: float, betas: tuple[float, float],
                    capturable: bool = False, registry: Registry | None = None
                    ) -> torch.optim.Optimizer:
    """The registered optimizer ``ref`` over ``params``."""
    entry = (registry or get_registry()).get("optimizer", ref.name)
    try:
        opt = entry.obj(list(params), lr=lr, betas=betas, capturable=capturable, **ref.kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"optimizer {ref.name!r} ({entry.provider}) rejected its settings "
                          f"{dict(ref.kwargs)}: {exc}") from None
    if not isinstance(opt, BY_NAME["optimizer"].base):
        raise PluginError(f"optimizer {ref.name!r} from {entry.provider} built a "
                          f"{type(opt).__name__}, not a torch.optim.Optimizer")
    return opt


SHAPE_KWARGS = {"generator": "out_shape", "discriminator": "in_shape"}


def with_data_shape(preset: Preset, registry: Registry | None = None) -> Preset:
    """``preset`` with its dataset's image shape as G's ``out_shape`` and D's ``in_shape``
    where their factories take one and the preset names none: models follow the data
    (``--set dataset.resolution=32``) unless a preset pins their shape. A run saves the
    preset filled in, so its generator is rebuilt without the data."""
    registry = registry or get_registry()
    missing = {kind: key for kind, key in SHAPE_KWARGS.items()
               if key not in getattr(preset, kind).kwargs
               and key in _parameters(registry.get(kind, getattr(preset, kind).name).obj)}
    if not missing:
        return preset  # nothing to fill: the dataset is not even built
    shape = list(build_component("dataset", preset.dataset, registry).sample_shape)
    filled = {kind: ComponentRef(getattr(preset, kind).name,
                                 {**getattr(preset, kind).kwargs, key: shape})
              for kind, key in missing.items()}
    return dataclasses.replace(preset, **filled)


def _parameters(factory) -> set[str]:
    try:
        return set(inspect.signature(factory).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        return set()


def build_generator(preset: Preset, registry: Registry | None = None) -> Generator:
    return build_component("generator", preset.generator, registry)


def build(preset: Preset, registry: Registry | None = None) -> Components:
    """All four components of ``preset``, checked to agree on the image shape."""
    parts = Components(
        generator=build_generator(preset, registry),
        discriminator=build_component("discriminator", preset.discriminator, registry),
        loss=build_component("loss", preset.loss, registry),
        dataset=build_component("dataset", preset.dataset, registry),
        augment=build_component("augment", preset.augment, registry) if preset.augment else None,
        schedules={side: build_component("schedule", ref, registry) for side, ref in
                   (("g", preset.schedule_g), ("d", preset.schedule_d)) if ref is not None},
    )
    shape = tuple(parts.dataset.sample_shape)
    judges = not isinstance(parts.discriminator, NoDiscriminator)  # D judges images
    for kind, got in (("generator", parts.generator.out_shape),
                      ("discriminator", parts.discriminator.in_shape if judges else shape)):
        if tuple(got) != shape:
            raise ConfigError(f"preset {preset.name!r}: {kind} works on images shaped "
                              f"{tuple(got)} but dataset {preset.dataset.name!r} has {shape}")
    _check_classes(parts, preset)
    _check_outputs(parts, registry or get_registry(), preset)
    _check_declarations(parts, preset)
    parts.networks, parts.state = _objective_parts(parts, registry or get_registry(), preset)
    if not judges and not any(net.side == "d" for net in parts.networks.values()):
        raise ConfigError(f"preset {preset.name!r}: the discriminator judges no images, so the "
                          f"objective must judge with its own networks on side 'd'; loss "
                          f"{preset.loss.name!r} has none")
    return parts


def _check_declarations(parts: Components, preset: Preset) -> None:
    """A schedule's unit and an objective's lazy terms, named where they are wrong."""
    for side, schedule in parts.schedules.items():
        if schedule.unit not in ("epoch", "step"):
            ref = preset.schedule_g if side == "g" else preset.schedule_d
            raise PluginError(f"schedule {ref.name!r} has unit {schedule.unit!r}; expected "
                              "'epoch' or 'step'")
    lazy = getattr(parts.loss, "lazy", {})
    for name, term in lazy.items():
        if not (isinstance(name, str) and isinstance(term, Lazy)):
            raise PluginError(f"loss {preset.loss.name!r} declared lazy term {name!r} as "
                              f"{term!r}; expected a name and ganzoo.Lazy(update, every)")


def _objective_parts(parts: Components, registry: Registry, preset: Preset
                     ) -> tuple[dict[str, Network], dict[str, torch.Tensor]]:
    """The objective's networks and initial state, checked: a wrong declaration is named now.
    Built after G and D, so an objective without any draws nothing from the RNG."""
    objective, ref = parts.loss, preset.loss
    if not isinstance(objective, Objective):
        return {}, {}
    culprit = f"loss {ref.name!r} from {registry.get('loss', ref.name).provider}"
    try:
        networks = dict(objective.networks(parts.generator, parts.discriminator))
        state = dict(objective.initial_state(parts.generator, parts.discriminator))
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300]
        raise PluginError(f"{culprit} could not build its networks or state: "
                          f"{type(exc).__name__}: {detail}") from None
    for name, declared in networks.items():
        if not (isinstance(declared, Network) and name.isidentifier()):
            raise PluginError(f"{culprit} declared network {name!r} as {declared!r}; expected "
                              "a name and ganzoo.Network(side, module)")
    for name, value in state.items():
        if not (isinstance(value, torch.Tensor) and name.isidentifier()):
            raise PluginError(f"{culprit} declared state {name!r} as a "
                              f"{type(value).__name__}; expected a name and a tensor")
    return networks, {name: value.detach().clone() for name, value in state.items()}


def _shape(value) -> tuple | str:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def _d_shapes(out, D: Discriminator) -> tuple[dict, dict]:
    """(got, expected) shapes of a discriminator's output on 2 samples, field by field: the
    logits alone, or each field of a DOutput (class logits when D predicts classes)."""
    logits = (2, *D.logits_shape)
    if not isinstance(out, DOutput):
        return {"": _shape(out)}, {"": logits}
    got = {name: _shape(value) for name, value in out.fields().items()}
    want = {name: (2, *value.shape[1:]) for name, value in out.fields().items()}
    want["logits"] = logits
    if D.class_outputs:
        got.setdefault("class_logits", None)
        want["class_logits"] = (2, D.class_outputs)
    return got, want


def _check_classes(parts: Components, preset: Preset) -> None:
    """Conditional models must agree with the dataset: G and D both conditioned on its
    classes, or (a D that predicts them, as ACGAN's) each conditioned on them or not at all."""
    G, D, k = parts.generator, parts.discriminator, parts.dataset.num_classes
    classes = {"generator": G.num_classes, "discriminator": D.num_classes}
    if D.class_outputs and D.class_outputs != k:
        raise ConfigError(f"preset {preset.name!r}: the discriminator predicts "
                          f"{D.class_outputs} classes, the dataset has {k}")
    allowed = {0, k} if D.class_outputs else {k}
    if any(classes.values()) and not set(classes.values()) <= allowed:
        raise ConfigError(f"preset {preset.name!r}: a class-conditional GAN needs G and D "
                          f"conditioned on the dataset's {k} classes; got "
                          f"{', '.join(f'{n} {v}' for n, v in classes.items())} "
                          "(0: unconditional)")


def _check_outputs(parts: Components, registry: Registry, preset: Preset) -> None:
    """Run G and D once on two samples: a model that returns the wrong shape is named now,
    not found later as a silently broadcast loss. Leaves RNG, modes and buffers as they were."""
    G, D = parts.generator, parts.discriminator
    modes = G.training, D.training

    def probe(kind: str, ref: ComponentRef, run, shapes):
        provider = registry.get(kind, ref.name).provider
        try:
            out = run()
        except Exception as exc:  # e.g. a keyword of the wrong type, used only in forward
            detail = " ".join(str(exc).split())[:300]
            raise ConfigError(f"{kind} {ref.name!r} ({provider}) with {dict(ref.kwargs)} "
                              f"fails on 2 samples: {type(exc).__name__}: {detail}") from None
        got, want = shapes(out)
        for part, expected in want.items():
            if got[part] != expected:
                what = f"{part} " if part else ""
                raise PluginError(f"{kind} {ref.name!r} from {provider} returned {what}"
                                  f"{got[part]} for 2 samples, expected {expected}")
        return out

    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            G.eval()
            D.eval()
            labels = torch.arange(2) % max(1, parts.dataset.num_classes)
            g_cond = (labels,) if G.num_classes else ()
            d_cond = (labels,) if D.num_classes else ()
            image = (2, *parts.dataset.sample_shape)
            g_in = torch.zeros(image) if G.translates else G.sample_noise(2, "cpu")
            fake = probe("generator", preset.generator, lambda: G(g_in, *g_cond),
                         lambda out: ({"": _shape(out)}, {"": image}))
            if not isinstance(D, NoDiscriminator):
                probe("discriminator", preset.discriminator, lambda: D(fake, *d_cond),
                      lambda out: _d_shapes(out, D))
    finally:
        G.train(modes[0])
        D.train(modes[1])
