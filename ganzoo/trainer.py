"""The training loop: build a preset's components, train them, and keep a run directory.

A run directory holds ``config.json`` (the resolved preset), ``metrics.jsonl`` (one line per
epoch: losses, speed and, every ``eval_every`` epochs, sample quality), ``samples/*.png``
(real images, then fixed-noise grids), ``loss.png`` (losses and quality),
``checkpoints/epoch-NNNN.safetensors`` (the last few) and ``generator.safetensors``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint
from .batches import DeviceImages, to_unit_range
from .build import build
from .datasets import default_data_root
from .errors import CheckpointError, ConfigError, TrainingError
from .fileio import atomic_write_bytes
from .images import save_grid, save_loss_plot
from .interfaces import Preset
from .quality import scorer_for
from .step import CudaGraphStep, TrainStep

N_FIXED = 64  # samples in each fixed-noise grid, as in the tutorial (BS fixed noise vectors)


@dataclass
class RunOptions:
    device: str | None = None  # None: CUDA when available, else CPU
    out: Path | None = None  # run directory; default runs/<preset>-<time>
    data_dir: Path | None = None  # default: $GANZOO_DATA or ~/.cache/ganzoo
    resume: Path | None = None  # a run directory or a training checkpoint
    precision: str = "fp32"  # or "bf16": autocast forward passes, fp32 losses and state
    cuda_graphs: bool = True  # on CUDA, replay the whole step as one CUDA graph
    quiet: bool = False


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device type {device.type!r} is not supported; use cpu or cuda")
    return device


def find_checkpoint(path: Path) -> Path:
    """A training checkpoint file, or the newest one in a run directory."""
    path = Path(path)
    if path.is_dir():
        found = sorted((path / "checkpoints").glob("epoch-*.safetensors"))
        if not found:
            raise CheckpointError(f"no checkpoints in run directory {path}")
        return found[-1]
    if not path.exists():
        raise CheckpointError(f"no run directory or checkpoint at {path}")
    return path


def run_dir_of(ckpt_path: Path) -> Path | None:
    parent = ckpt_path.resolve().parent
    return parent.parent if parent.name == "checkpoints" else None


class Run:
    """Files of one run directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.metrics = self.root / "metrics.jsonl"
        self.samples = self.root / "samples"
        self.checkpoints = self.root / "checkpoints"

    def holds_a_run(self) -> bool:
        return self.metrics.exists() or any(self.checkpoints.glob("*.safetensors"))

    def create(self, preset: Preset) -> None:
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            self.samples.mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create run directory {self.root}: {exc.strerror}") from None
        text = json.dumps(preset.to_dict(), indent=2) + "\n"
        atomic_write_bytes(self.root / "config.json", text.encode())

    def records(self, before_epoch: int | None = None) -> list[dict]:
        if not self.metrics.exists():
            return []
        rows = [json.loads(line) for line in self.metrics.read_text().splitlines() if line]
        return [r for r in rows if before_epoch is None or r["epoch"] < before_epoch]

    def rewrite_records(self, rows: list[dict]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in rows)
        atomic_write_bytes(self.metrics, text.encode())

    def append_record(self, row: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")

    def checkpoint_path(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch:04d}.safetensors"

    def prune_checkpoints(self, keep: int) -> None:
        for old in sorted(self.checkpoints.glob("epoch-*.safetensors"))[:-keep]:
            old.unlink(missing_ok=True)


def default_run_dir(preset: Preset) -> Path:
    return Path("runs") / f"{preset.name}-{datetime.now():%Y%m%d-%H%M%S}"


def train(preset: Preset, options: RunOptions | None = None) -> Path:
    """Train ``preset`` (or resume a run of it); returns the run directory."""
    options = options or RunOptions()
    device = resolve_device(options.device)
    data_root = Path(options.data_dir) if options.data_dir else default_data_root()
    say = (lambda msg: None) if options.quiet else (lambda msg: tqdm.write(msg, file=sys.stdout))

    resume_from = None
    if options.resume is not None:
        resume_from = checkpoint.load_training(find_checkpoint(options.resume))
        if resume_from.preset.name != preset.name:
            raise CheckpointError(f"{resume_from.path} is a run of preset "
                                  f"{resume_from.preset.name!r}, not {preset.name!r}")
    settings = preset.train

    torch.manual_seed(settings.seed)
    parts = build(preset)
    G, D = parts.generator.to(device), parts.discriminator.to(device)
    graphs = options.cuda_graphs and device.type == "cuda"
    eager = TrainStep.create(G, D, parts.loss, settings, options.precision, capturable=graphs)
    opt_g, opt_d = eager.opt_g, eager.opt_d
    step = CudaGraphStep(eager) if graphs else eager

    images, labels = parts.dataset.load("train", data_root)
    data = DeviceImages(images, labels, device, hflip=settings.hflip)
    steps_per_epoch = data.steps_per_epoch(settings.batch_size)
    fixed_noise = _fixed_noise(G, settings.seed).to(device)

    if resume_from is not None:
        checkpoint.restore_training(resume_from, generator=G, discriminator=D,
                                    opt_g=opt_g, opt_d=opt_d)
        run = Run(options.out or run_dir_of(resume_from.path) or default_run_dir(preset))
        run.create(preset)
        start_epoch = resume_from.epoch
        history = run.records(before_epoch=start_epoch)
        run.rewrite_records(history)
        say(f"Resuming {preset.name} from {resume_from.path} (epoch {start_epoch})")
        if start_epoch >= settings.epochs:
            say(f"The run is already trained for {start_epoch} of {settings.epochs} epochs; "
                "pass --epochs N to train longer.")
    else:
        run = Run(options.out or default_run_dir(preset))
        if run.holds_a_run():
            raise ConfigError(f"{run.root} already holds a run; continue it with --resume "
                              f"{run.root} or choose another --out")
        run.create(preset)
        start_epoch, history = 0, []
        save_grid(to_unit_range(data.images[:N_FIXED]), run.samples / "real.png")
        run.rewrite_records([])

    scorer = scorer_for(parts.dataset, data_root, device, say)[0] if settings.eval_every else None
    say(f"Training {preset.name} on {device} for {settings.epochs} epochs "
        f"({steps_per_epoch} steps of {settings.batch_size}); run directory: {run.root}")
    for epoch in range(start_epoch, settings.epochs):
        record = _train_epoch(step, data, settings.batch_size, settings.log_every, epoch,
                              settings.epochs, quiet=options.quiet)
        say(f"Epoch [{epoch}/{settings.epochs}] Loss D: {record['loss_d']:.4f}, "
            f"loss G: {record['loss_g']:.4f} | {record['samples_per_s']:,.0f} samples/s")
        last = epoch == settings.epochs - 1
        if scorer is not None and ((epoch + 1) % settings.eval_every == 0 or last):
            quality = scorer.score_generator(G, seed=settings.seed + 2)
            record["quality"] = quality.as_dict()
            say(f"Epoch [{epoch}/{settings.epochs}] quality: {quality.summary()}")
        history.append(record)
        run.append_record(record)
        if epoch % settings.sample_every == 0 or last:
            _save_samples(G, fixed_noise, run.samples / f"epoch-{epoch:04d}.png")
            save_loss_plot(history, run.root / "loss.png", preset.name)
        checkpoint.save_training(run.checkpoint_path(epoch + 1), preset=preset, epoch=epoch + 1,
                                 generator=G, discriminator=D, opt_g=opt_g, opt_d=opt_d)
        run.prune_checkpoints(settings.keep_checkpoints)

    checkpoint.export_generator(run.root / "generator.safetensors", preset=preset,
                                epoch=max(settings.epochs, start_epoch), generator=G)
    say(f"Done. Samples, metrics and checkpoints are in {run.root}")
    return run.root


def _fixed_noise(generator, seed: int) -> torch.Tensor:
    """The same noise for every grid of a run, drawn without touching the training RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return generator.sample_noise(N_FIXED, "cpu")


@torch.no_grad()
def _save_samples(G, noise: torch.Tensor, path: Path) -> None:
    was_training = G.training
    G.eval()
    save_grid(G(noise), path, nrow=8)
    G.train(was_training)


def _train_epoch(step: TrainStep | CudaGraphStep, data: DeviceImages, batch_size: int,
                 log_every: int, epoch: int, epochs: int, quiet: bool) -> dict:
    steps = data.steps_per_epoch(batch_size)
    total = torch.zeros(2, device=data.device)
    bar = tqdm(total=steps * batch_size, unit="img", unit_scale=True, leave=False,
               desc=f"epoch {epoch}/{epochs}", disable=True if quiet else None, file=sys.stderr)
    start, shown = time.perf_counter(), 0
    for i, (real, _labels) in enumerate(data.epoch(batch_size)):
        losses = step(real)
        total += losses
        if (i + 1) % log_every == 0 or i + 1 == steps:
            loss_d, loss_g = losses.tolist()  # the only host sync, every log_every steps
            if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
                raise TrainingError(f"training diverged at epoch {epoch}, step {i}: "
                                    f"loss D {loss_d}, loss G {loss_g}")
            bar.set_postfix_str(f"loss D {loss_d:.3f} G {loss_g:.3f}", refresh=False)
            bar.update((i + 1 - shown) * batch_size)
            shown = i + 1
    elapsed = time.perf_counter() - start
    bar.close()
    mean_d, mean_g = (total / steps).tolist()
    return {"epoch": epoch, "steps": steps, "loss_d": mean_d, "loss_g": mean_g,
            "samples_per_s": steps * batch_size / elapsed, "time_s": elapsed}
