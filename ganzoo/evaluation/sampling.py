"""Drawing samples from a trained generator (a run directory or a checkpoint file)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch

from ..core.build import build_generator
from ..core.errors import ConfigError, DataError
from ..core.folders import Source, decode, scan
from ..core.interfaces import Generator, Preset
from ..engine import checkpoint
from ..engine.batches import to_unit_range
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


def draws(generator: Generator) -> Generator:
    """``generator``, if it draws images from noise; a translator is a clear error."""
    if generator.translates:
        raise ConfigError("this generator translates images rather than drawing them from "
                          "noise: use ganzoo translate RUN IMAGE... -o DIR (Run.translate in "
                          "Python)")
    return generator


@torch.no_grad()
def sample(generator: Generator, n: int, seed: int, device: torch.device | str = "cpu",
           labels: int | Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
    """``n`` images in [-1, 1] from noise seeded by ``seed``; the global RNG is left as it
    was."""
    draws(generator)
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        noise = generator.sample_noise(n, device)
        return generator.generate(noise, class_labels(generator, n, labels, device))


VARY_RANGE = (-2.0, 2.0)  # a continuous code's columns, past its U(-1, 1) training range
VARY_STEPS = 10  # as InfoGAN's figures


@torch.no_grad()
def vary(generator: Generator, code: str, rows: int, seed: int,
          device: torch.device | str = "cpu", hold: dict[str, float] | None = None
          ) -> tuple[torch.Tensor, int]:
    """A grid that varies one latent code along its columns (every value of a categorical
    code; VARY_STEPS values over VARY_RANGE of a continuous one), with ``rows`` noise
    draws, seeded, and the codes in ``hold`` fixed everywhere; returns (images, columns)."""
    known = dict(generator.codes)
    for name in (code, *(hold or {})):
        if name not in known:
            have = ", ".join(known) or "none"
            raise ConfigError(f"the generator has no latent code {name!r} (its codes: {have})")
    if code in (hold or {}):
        raise ConfigError(f"code {code!r} cannot be swept and held at once")
    for name, value in (hold or {}).items():
        if known[name] and value not in range(known[name]):
            raise ConfigError(f"code {name!r} takes the values 0 to {known[name] - 1}, got "
                              f"{value}")
    values = (torch.arange(known[code]) if known[code]
              else torch.linspace(*VARY_RANGE, VARY_STEPS)).to(device)
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        noise = generator.sample_noise(rows, device)
    for name, value in (hold or {}).items():
        noise = generator.with_code(noise, name, torch.full((rows,), value, device=device))
    noise = generator.with_code(noise.repeat_interleave(len(values), 0), code,
                                values.repeat(rows))
    return generator(noise), len(values)


def sample_grid(source: Path, out: Path, n: int = 64, seed: int = 0,
                device: torch.device | str = "cpu", label: int | None = None,
                code: str | None = None, hold: dict[str, float] | None = None
                ) -> tuple[int, int]:
    """Write a grid of ``n`` samples to ``out`` (varying ``code``: ``n`` rounded up to whole
    rows); returns (the epochs the generator trained, samples written)."""
    generator, preset, epoch = load_generator(source, device)
    draws(generator)
    if code is not None:
        steps = generator.codes.get(code) or VARY_STEPS
        images, nrow = vary(generator, code, -(-n // steps), seed, device, hold)
    elif hold:
        raise ConfigError("holding a code needs a code to vary (--vary)")
    else:
        # every class in turn: one column per class
        nrow = generator.num_classes if label is None and generator.num_classes else None
        images = sample(generator, n, seed, device, label)
    try:
        save_grid(images, out, nrow=nrow)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    return epoch, len(images)


TRANSLATE_CHUNK = 64  # images per forward pass of ``translate``


@torch.no_grad()
def translate(generator: Generator, images: torch.Tensor, direction: str = "AB"
              ) -> torch.Tensor:
    """A translator's translations of ``images`` (N, C, H, W) in [-1, 1], of its source
    domain ("AB": A's, "BA": B's), in eval mode."""
    if not generator.translates:
        raise ConfigError("this generator draws images from noise; it translates none (use "
                          "ganzoo sample)")
    if tuple(images.shape[1:]) != generator.image_shape:
        raise ConfigError(f"the generator translates images of shape {generator.image_shape} "
                          f"(C, H, W); got {tuple(images.shape[1:])}")
    was_training = generator.training
    generator.eval()
    try:
        return torch.cat([generator.translate(chunk, direction).float()
                          for chunk in images.split(TRANSLATE_CHUNK)])
    finally:
        generator.train(was_training)


def translate_files(source: Path, inputs: Sequence[Path], out: Path, direction: str = "AB",
                    device: torch.device | str = "cpu") -> tuple[int, list[Path]]:
    """Translate image files, and every image under folders (or .zip files), with the
    generator of ``source``; write one PNG per input image at the model's resolution into
    ``out`` (a folder's images under their paths in it). Every input is read before anything
    is written. Returns (the epochs the generator trained, the files written)."""
    generator, _, epoch = load_generator(source, device)
    channels, resolution = generator.image_shape[0], generator.image_shape[1]
    jobs = input_images(inputs, out)
    images = torch.stack([torch.tensor(read_image(src, resolution, channels))
                          for src, _ in jobs])
    made = translate(generator, to_unit_range(images.to(device)), direction)
    written = []
    for (_, path), image in zip(jobs, made, strict=True):
        try:
            save_grid(image[None], path, nrow=1, padding=0)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return epoch, written


def input_images(inputs: Sequence[Path], out: Path) -> list[tuple[Source, Path]]:
    """Each input image and the PNG it becomes under ``out``; two inputs that would
    become one file are an error."""
    jobs: dict[Path, Source] = {}
    for given in map(Path, inputs):
        found = (scan(given) if given.is_dir() or given.suffix.lower() == ".zip"
                 else [Source(given.name, given)])
        for src in found:
            path = out / Path(src.name).with_suffix(".png")
            if path in jobs:
                raise ConfigError(f"{jobs[path].path} and {src.path} would both be written "
                                  f"to {path}")
            jobs[path] = src
    if not jobs:
        raise ConfigError("no images to translate")
    return [(src, path) for path, src in jobs.items()]


def read_image(src: Source, resolution: int, channels: int):
    """One input file decoded as the model's images are (uint8 (C, R, R)), or a DataError
    naming it."""
    from PIL import UnidentifiedImageError

    try:
        return decode(src.read(), resolution, channels)
    except UnidentifiedImageError:
        raise DataError(f"cannot read {src.path}: not an image file Pillow can read") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {src.path}: {exc}") from None
