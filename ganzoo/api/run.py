"""A finished (or running) run, as an object: its preset, records, checkpoints, generator."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..core.errors import CheckpointError
from ..core.interfaces import Generator, Preset
from ..core.presetfile import load_preset_file
from ..engine import checkpoint
from ..engine.devices import resolve_device
from ..engine.rundir import RunDir, checkpoints_in, run_dir_of
from ..evaluation.quality import EVAL_SAMPLES
from ..evaluation.report import Report
from ..evaluation.sampling import (
    generator_checkpoint,
    load_generator,
    sample,
    sample_grid,
    translate,
    translate_files,
    vary,
)
from .scoring import evaluate


class Run:
    """A run directory, or a single checkpoint file, and what it holds.

    >>> run = ganzoo.load("runs/vanilla-mnist-20261201-120000")
    >>> run.history[-1]["loss_g"], run.checkpoints[-1]
    >>> images = run.sample(16, seed=0)        # (16, 1, 28, 28) in [-1, 1]
    >>> print(run.evaluate(n=1000))
    """

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        if path.is_dir():
            if not (path / "config.json").is_file() and not checkpoints_in(path):
                raise CheckpointError(f"{path} holds no run (no config.json, no checkpoints)")
            self.root: Path | None = path
        elif path.is_file():
            self.root = run_dir_of(path)
        else:
            raise CheckpointError(f"no run directory or checkpoint at {path}")
        self.source = path
        self._generators: dict[tuple[bool, str], Generator] = {}

    def __repr__(self) -> str:
        return f"Run({str(self.source)!r}, preset={self.preset.name!r})"

    @property
    def preset(self) -> Preset:
        """The preset as the run resolved it (its ``config.json``, or the checkpoint's)."""
        config = self.source / "config.json"
        if config.is_file():
            return load_preset_file(config)
        return checkpoint.load(generator_checkpoint(self.source)).preset

    @property
    def history(self) -> list[dict[str, Any]]:
        """One record per epoch trained (``metrics.jsonl``): epoch, steps, loss_d, loss_g,
        samples_per_s, time_s and, where measured, ``quality``."""
        return RunDir(self.root).records() if self.root is not None else []

    @property
    def checkpoints(self) -> list[Path]:
        """The run's training checkpoints, oldest first."""
        return checkpoints_in(self.root) if self.root is not None else [self.source]

    def generator(self, ema: bool = True, device: str | torch.device | None = "cpu"
                  ) -> Generator:
        """The trained generator in eval mode (its EMA weights, when kept and ``ema``),
        loaded once per device."""
        dev = resolve_device(device)
        key = (ema, str(dev))
        if key not in self._generators:
            self._generators[key] = load_generator(self.source, dev, ema=ema).generator
        return self._generators[key]

    def sample(self, n: int = 64, seed: int | None = None,
               labels: int | Sequence[int] | torch.Tensor | None = None,
               device: str | torch.device | None = "cpu", ema: bool = True) -> torch.Tensor:
        """``n`` images (N, C, H, W) in [-1, 1]. ``seed`` fixes the noise (None: a fresh
        draw); ``labels`` asks a class-conditional generator for one class or one per
        sample. The global RNG is left as it was."""
        dev = resolve_device(device)
        seed = random.SystemRandom().randrange(2**63) if seed is None else seed
        return sample(self.generator(ema, dev), n, seed, dev, labels)

    def vary(self, code: str, rows: int = 10, seed: int = 0,
             hold: dict[str, float] | None = None, device: str | torch.device | None = "cpu"
             ) -> torch.Tensor:
        """A grid, row by row, that varies one of the generator's latent codes (InfoGAN's
        c1, c2, ...) along each row's columns, with the codes in ``hold`` fixed: images
        (rows x columns, C, H, W), as ``ganzoo sample --vary`` writes them."""
        dev = resolve_device(device)
        return vary(self.generator(True, dev), code, rows, seed, dev, hold)[0]

    def translate(self, images: torch.Tensor, direction: str = "AB",
                  device: str | torch.device | None = "cpu", ema: bool = True
                  ) -> torch.Tensor:
        """An image-to-image run's translations of ``images`` (N, C, H, W) in [-1, 1] at
        the model's resolution: A to B ("AB"), or B to A ("BA", where it translates both
        ways)."""
        dev = resolve_device(device)
        return translate(self.generator(ema, dev), images.to(dev), direction)

    def translate_files(self, inputs: Sequence[Path | str], out: Path | str,
                        direction: str = "AB", device: str | torch.device | None = "cpu"
                        ) -> tuple[int, list[Path]]:
        """Translate image files and folders into PNGs under ``out``: what ``ganzoo
        translate`` writes. Returns (the epochs the generator trained, the files written)."""
        return translate_files(self.source, [Path(p) for p in inputs], Path(out), direction,
                               resolve_device(device))

    def save_grid(self, path: Path | str, n: int = 64, seed: int = 0, *,
                  label: int | None = None, vary: str | None = None,
                  hold: dict[str, float] | None = None,
                  device: str | torch.device | None = "cpu") -> tuple[int, int]:
        """Write a PNG grid of ``n`` samples (every class in turn, a column each; or only
        class ``label``; or rows that ``vary`` a latent code, ``n`` rounded up to whole
        rows): what ``ganzoo sample`` writes. Returns (the epochs the generator trained,
        the samples written)."""
        return sample_grid(self.source, Path(path), n=n, seed=seed,
                           device=resolve_device(device), label=label, code=vary, hold=hold)

    def evaluate(self, n: int = EVAL_SAMPLES, **kwargs: Any) -> Report:
        """Sample quality against the test split; takes what :func:`ganzoo.evaluate` does."""
        return evaluate(self, n, **kwargs)
