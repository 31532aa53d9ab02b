"""Drawing samples from a trained generator (a run directory or a checkpoint file)."""

from __future__ import annotations

from pathlib import Path

import torch

from . import checkpoint
from .build import build_generator
from .images import save_grid
from .interfaces import Generator
from .trainer import find_checkpoint


def generator_checkpoint(source: Path) -> Path:
    """The generator export of a run directory, else its newest training checkpoint."""
    source = Path(source)
    export = source / "generator.safetensors"
    if source.is_dir() and export.is_file():
        return export
    return find_checkpoint(source)


def load_generator(source: Path, device: torch.device | str = "cpu") -> tuple[Generator, int]:
    """The trained generator of ``source`` in eval mode, and the epochs it was trained for."""
    ckpt = checkpoint.load(generator_checkpoint(source))
    generator = build_generator(ckpt.preset)
    checkpoint.load_module(ckpt, "generator", generator)
    return generator.to(device).eval(), ckpt.epoch


@torch.no_grad()
def sample(generator: Generator, n: int, seed: int, device: torch.device | str = "cpu"):
    torch.manual_seed(seed)
    return generator(generator.sample_noise(n, device))


def sample_grid(source: Path, out: Path, n: int = 64, seed: int = 0,
                device: torch.device | str = "cpu") -> int:
    generator, epoch = load_generator(source, device)
    save_grid(sample(generator, n, seed, device), out)
    return epoch
