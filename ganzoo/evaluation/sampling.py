"""Drawing samples from a trained generator (a run directory or a checkpoint file)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch

from ..core.build import build_generator
from ..core.errors import ConfigError
from ..core.interfaces import Generator, Preset
from ..engine import checkpoint
from ..engine.images import save_grid
from ..engine.rundir import GENERATOR_FILE, find_checkpoint


def generator_checkpoint(source: Path) -> Path:
    """The generator export of a run directory, else its newest training checkpoint."""
    source = Path(source)
    export = source / GENERATOR_FILE
    if source.is_dir() and export.is_file():
        return export
    return find_checkpoint(source)


class Trained(NamedTuple):
    generator: Generator  # in eval mode; the EMA weights when the run kept them and asked
    preset: Preset  # as the run resolved it
    epoch: int  # epochs it was trained for


def load_generator(source: Path, device: torch.device | str = "cpu",
                   ema: bool = True) -> Trained:
    """The trained generator of a run directory or checkpoint: its EMA weights when the run
    kept them and ``ema`` is true, else the trained weights."""
    ckpt = checkpoint.load(generator_checkpoint(source))
    with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten anyway
        generator = build_generator(ckpt.preset)
    section = checkpoint.EMA if ema and ckpt.section(checkpoint.EMA) else "generator"
    checkpoint.load_module(ckpt, section, generator)
    return Trained(generator.to(device).eval(), ckpt.preset, ckpt.epoch)


def class_labels(generator: Generator, n: int, labels: int | Sequence[int] | torch.Tensor | None,
                 device: torch.device | str = "cpu") -> torch.Tensor | None:
    """``n`` class labels: one class for all (an int), one per sample, or None for the
    generator's default (every class in turn)."""
    if labels is None:
        return None
    if not generator.num_classes:
        raise ConfigError("class labels need a class-conditional generator (such as "
                          "cgan-mnist's); this one is unconditional")
    asked = torch.as_tensor(labels, dtype=torch.long).to(device)
    asked = asked.expand(n) if asked.dim() == 0 else asked
    if asked.shape != (n,):
        raise ConfigError(f"got {asked.numel()} class labels for {n} samples")
    bad = asked[(asked < 0) | (asked >= generator.num_classes)]
    if bad.numel():
        raise ConfigError(f"class {bad[0].item()}: the generator knows classes 0 to "
                          f"{generator.num_classes - 1}")
    return asked


@torch.no_grad()
def sample(generator: Generator, n: int, seed: int, device: torch.device | str = "cpu",
           labels: int | Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
    """``n`` images in [-1, 1] from noise seeded by ``seed``; the global RNG is left as it
    was."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        noise = generator.sample_noise(n, device)
        return generator.generate(noise, class_labels(generator, n, labels, device))


def sample_grid(source: Path, out: Path, n: int = 64, seed: int = 0,
                device: torch.device | str = "cpu", label: int | None = None) -> int:
    """Write a grid of ``n`` samples to ``out``; returns the epochs the generator trained."""
    generator, preset, epoch = load_generator(source, device)
    # every class in turn: one column per class
    nrow = generator.num_classes if label is None and generator.num_classes else None
    images = sample(generator, n, seed, device, label)
    try:
        save_grid(images, out, nrow=nrow)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    return epoch
