"""Drawing samples from a trained generator (a run directory or a checkpoint file)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from . import checkpoint
from .build import build_generator
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
    generator: Generator  # in eval mode
    preset: Preset  # as the run resolved it
    epoch: int  # epochs it was trained for


def load_generator(source: Path, device: torch.device | str = "cpu") -> Trained:
    """The trained generator of a run directory or checkpoint."""
    ckpt = checkpoint.load(generator_checkpoint(source))
    generator = build_generator(ckpt.preset)
    checkpoint.load_module(ckpt, "generator", generator)
    return Trained(generator.to(device).eval(), ckpt.preset, ckpt.epoch)


@torch.no_grad()
def sample(generator: Generator, n: int, seed: int, device: torch.device | str = "cpu"):
    torch.manual_seed(seed)
    return generator(generator.sample_noise(n, device))


def sample_grid(source: Path, out: Path, n: int = 64, seed: int = 0,
                device: torch.device | str = "cpu") -> int:
    generator, _, epoch = load_generator(source, device)
    save_grid(sample(generator, n, seed, device), out)
    return epoch
