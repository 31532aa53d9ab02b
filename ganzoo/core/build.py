"""Instantiating a preset's components from the registry, with checks that name the culprit."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ConfigError, PluginError
from .interfaces import (
    Callback,
    ComponentRef,
    Dataset,
    Discriminator,
    Evaluator,
    GANLoss,
    Generator,
    Preset,
)
from .plugins import Registry, get_registry

BASES = {"generator": Generator, "discriminator": Discriminator, "loss": GANLoss,
         "dataset": Dataset, "evaluator": Evaluator, "callback": Callback}


@dataclass
class Components:
    generator: Generator
    discriminator: Discriminator
    loss: GANLoss
    dataset: Dataset


def build_component(kind: str, ref: ComponentRef, registry: Registry | None = None):
    entry = (registry or get_registry()).get(kind, ref.name)
    try:
        obj = entry.obj(**ref.kwargs)
    except TypeError as exc:
        raise ConfigError(f"{kind} {ref.name!r} ({entry.provider}) rejected its settings "
                          f"{dict(ref.kwargs)}: {exc}") from None
    except (ValueError, ConfigError) as exc:
        raise ConfigError(f"{kind} {ref.name!r}: {exc}") from None
    except Exception as exc:  # e.g. torch refusing a negative layer size
        detail = " ".join(str(exc).split())[:300]
        raise ConfigError(f"{kind} {ref.name!r} ({entry.provider}) could not be built with "
                          f"{dict(ref.kwargs)}: {type(exc).__name__}: {detail}") from None
    if not isinstance(obj, BASES[kind]):
        raise PluginError(f"{kind} {ref.name!r} from {entry.provider} built a "
                          f"{type(obj).__name__}, not a ganzoo {BASES[kind].__name__}")
    return obj


def build_generator(preset: Preset, registry: Registry | None = None) -> Generator:
    return build_component("generator", preset.generator, registry)


def build(preset: Preset, registry: Registry | None = None) -> Components:
    """All four components of ``preset``, checked to agree on the image shape."""
    parts = Components(
        generator=build_generator(preset, registry),
        discriminator=build_component("discriminator", preset.discriminator, registry),
        loss=build_component("loss", preset.loss, registry),
        dataset=build_component("dataset", preset.dataset, registry),
    )
    shape = tuple(parts.dataset.sample_shape)
    for kind, got in (("generator", parts.generator.out_shape),
                      ("discriminator", parts.discriminator.in_shape)):
        if tuple(got) != shape:
            raise ConfigError(f"preset {preset.name!r}: {kind} works on images shaped "
                              f"{tuple(got)} but dataset {preset.dataset.name!r} has {shape}")
    classes = {"generator": parts.generator.num_classes,
               "discriminator": parts.discriminator.num_classes}
    if any(classes.values()) and set(classes.values()) != {parts.dataset.num_classes}:
        raise ConfigError(f"preset {preset.name!r}: a class-conditional GAN needs G and D "
                          f"conditioned on the dataset's {parts.dataset.num_classes} classes; "
                          f"got {', '.join(f'{k} {v}' for k, v in classes.items())} "
                          "(0: unconditional)")
    _check_outputs(parts, registry or get_registry(), preset)
    return parts


def _check_outputs(parts: Components, registry: Registry, preset: Preset) -> None:
    """Run G and D once on two samples: a model that returns the wrong shape is named now,
    not found later as a silently broadcast loss. Leaves RNG, modes and buffers as they were."""
    G, D = parts.generator, parts.discriminator
    modes = G.training, D.training

    def probe(kind: str, ref: ComponentRef, run, want: tuple):
        provider = registry.get(kind, ref.name).provider
        try:
            out = run()
        except Exception as exc:  # e.g. a keyword of the wrong type, used only in forward
            detail = " ".join(str(exc).split())[:300]
            raise ConfigError(f"{kind} {ref.name!r} ({provider}) with {dict(ref.kwargs)} "
                              f"fails on 2 samples: {type(exc).__name__}: {detail}") from None
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        if got != want:
            raise PluginError(f"{kind} {ref.name!r} from {provider} returned {got} for 2 "
                              f"samples, expected {want}")
        return out

    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            G.eval()
            D.eval()
            cond = (torch.arange(2) % D.num_classes,) if D.num_classes else ()
            fake = probe("generator", preset.generator,
                         lambda: G(G.sample_noise(2, "cpu"), *cond),
                         (2, *parts.dataset.sample_shape))
            probe("discriminator", preset.discriminator, lambda: D(fake, *cond), (2,))
    finally:
        G.train(modes[0])
        D.train(modes[1])
