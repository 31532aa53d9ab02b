"""Drawing samples from a trained generator (a run directory or a checkpoint file)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from . import checkpoint
from .build import build_generator
from .errors import ConfigError
from .images import save_grid
from .interfaces import Generator, Preset
from .trainer import find_checkpoint


def generator_checkpoint(source: Path) -> Path:
    """The generator export of a run directory, else its newest training checkpoint."""
    source = Path(source)
    export = source / "generator.safetensors"
    if source.is_dir() and export.is_file():
        return export
    return find_checkpoint(source)


class Trained(NamedTuple):
    generator: Generator  # in eval mode; the EMA weights when the run kept them
    preset: Preset  # as the run resolved it
    epoch: int  # epochs it was trained for


def load_generator(source: Path, device: torch.device | str = "cpu") -> Trained:
    """The trained generator of a run directory or checkpoint (its EMA weights if kept)."""
    ckpt = checkpoint.load(generator_checkpoint(source))
    generator = build_generator(ckpt.preset)
    section = checkpoint.EMA if ckpt.section(checkpoint.EMA) else "generator"
    checkpoint.load_module(ckpt, section, generator)
    return Trained(generator.to(device).eval(), ckpt.preset, ckpt.epoch)


def class_labels(generator: Generator, n: int, label: int | None,
                 device: torch.device | str = "cpu") -> torch.Tensor | None:
    """``n`` labels of class ``label`` (None: the generator's default, every class in turn)."""
    if label is None:
        return None
    if not generator.num_classes:
        raise ConfigError("--class needs a class-conditional generator (such as cgan-mnist's); "
                          "this one is unconditional")
    if not 0 <= label < generator.num_classes:
        raise ConfigError(f"--class {label}: the generator knows classes 0 to "
                          f"{generator.num_classes - 1}")
    return torch.full((n,), label, dtype=torch.long, device=device)


@torch.no_grad()
def sample(generator: Generator, n: int, seed: int, device: torch.device | str = "cpu",
           label: int | None = None):
    torch.manual_seed(seed)
    noise = generator.sample_noise(n, device)
    return generator.generate(noise, class_labels(generator, n, label, device))


def sample_grid(source: Path, out: Path, n: int = 64, seed: int = 0,
                device: torch.device | str = "cpu", label: int | None = None) -> int:
    generator, _, epoch = load_generator(source, device)
    # every class in turn: one column per class
    nrow = generator.num_classes if label is None and generator.num_classes else None
    save_grid(sample(generator, n, seed, device, label), out, nrow=nrow)
    return epoch
