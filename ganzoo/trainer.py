"""The training loop: build a preset's components, train them, and keep a run directory.

A run directory holds ``config.json`` (the resolved preset), ``metrics.jsonl`` (one line per
epoch: losses, speed and, every ``eval_every`` epochs, sample quality), ``samples/*.png``
(real images, then fixed-noise grids), ``loss.png`` (losses and quality),
``checkpoints/epoch-NNNN.safetensors`` (the last few) and ``generator.safetensors``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
from tqdm import tqdm

from . import checkpoint, distributed
from .batches import DeviceImages, to_unit_range
from .build import build
from .datasets import default_data_root
from .errors import CheckpointError, ConfigError, Diverged, Interrupted, TrainingError
from .fileio import atomic_write_bytes
from .images import save_grid, save_loss_plot
from .interfaces import Preset
from .interrupt import GracefulStop
from .quality import scorer_for
from .step import CudaGraphStep, TrainStep

MAX_ROLLBACKS = 5  # --on-nan rollback gives up after this many in one run
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
    # Besides every epoch's end, checkpoint inside epochs every N steps and/or S seconds.
    checkpoint_every_steps: int | None = None
    checkpoint_every_s: float | None = 600.0
    on_save_error: str = "stop"  # or "continue": warn and keep training when a write fails
    on_nan: str = "stop"  # or "rollback": reload the last good checkpoint, halve the lr


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


CHECKPOINT_NAME = re.compile(r"epoch-(\d+)(?:-step-(\d+))?\.safetensors")


def checkpoints_in(run_dir: Path) -> list[Path]:
    """The training checkpoints of a run directory, oldest first."""
    found = [(m, p) for p in (Path(run_dir) / "checkpoints").glob("epoch-*.safetensors")
             if (m := CHECKPOINT_NAME.fullmatch(p.name))]
    return [p for m, p in sorted(found, key=lambda mp: (int(mp[0][1]), int(mp[0][2] or 0)))]


def find_checkpoint(path: Path) -> Path:
    """A training checkpoint file, or the newest one in a run directory."""
    path = Path(path)
    if path.is_dir():
        found = checkpoints_in(path)
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

    def checkpoint_path(self, epoch: int, step: int = 0) -> Path:
        """``epoch`` epochs completed and ``step`` steps into the next."""
        inside = f"-step-{step:06d}" if step else ""
        return self.checkpoints / f"epoch-{epoch:04d}{inside}.safetensors"

    def prune_checkpoints(self, keep: int) -> None:
        for old in checkpoints_in(self.root)[:-keep]:
            old.unlink(missing_ok=True)

    def remove_partial_writes(self) -> None:
        """Temp files of writes that a crash interrupted (never a complete checkpoint)."""
        for tmp in self.checkpoints.glob(".*.tmp*"):
            tmp.unlink(missing_ok=True)


def default_run_dir(preset: Preset) -> Path:
    return Path("runs") / f"{preset.name}-{datetime.now():%Y%m%d-%H%M%S}"


def train(preset: Preset, options: RunOptions | None = None) -> Path:
    """Train ``preset`` (or resume a run of it); returns the run directory.

    SIGINT or SIGTERM finishes the current step, saves a checkpoint and raises
    :class:`~ganzoo.errors.Interrupted` naming it and the command that resumes. Started by
    torchrun, every process trains its share of each batch in DDP; rank 0 alone writes.
    """
    options = options or RunOptions()
    device = resolve_device(options.device)
    if not distributed.launched():
        return _train(preset, options, device, distributed.SINGLE)
    world = distributed.join(device)
    try:
        if not world.is_main:  # rank 0 alone shows progress and writes files
            options = dataclasses.replace(options, quiet=True)
        return _train(preset, options, distributed.rank_device(device, world), world)
    finally:
        distributed.leave()


def _train(preset: Preset, options: RunOptions, device: torch.device,
           world: distributed.World) -> Path:
    data_root = Path(options.data_dir) if options.data_dir else default_data_root()
    say = (lambda msg: None) if options.quiet else (lambda msg: tqdm.write(msg, file=sys.stdout))
    main = world.is_main

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
    graphs = options.cuda_graphs and device.type == "cuda" and world.size == 1
    eager = TrainStep.create(G, D, parts.loss, settings, options.precision, capturable=graphs)
    step = CudaGraphStep(eager) if graphs else eager

    images, labels = parts.dataset.load("train", data_root)
    data = DeviceImages(images, labels, device, hflip=settings.hflip)
    steps_per_epoch = data.steps_per_epoch(images_per_step(settings) * world.size)
    fixed_noise = _fixed_noise(G, settings.seed).to(device)
    shown = G if eager.ema is None else eager.ema  # what grids, eval and `sample` use

    if resume_from is not None:
        checkpoint.restore_training(resume_from, generator=G, discriminator=D,
                                    opt_g=eager.opt_g, opt_d=eager.opt_d, ema=eager.ema)
        run = Run(options.out or run_dir_of(resume_from.path) or default_run_dir(preset))
        start_epoch = resume_from.epoch
        history = run.records(before_epoch=start_epoch)
        if main:
            run.create(preset)
            run.remove_partial_writes()
            newest = checkpoints_in(run.root)[-1:]
            if newest and newest[0].resolve() == resume_from.path.resolve():
                # a kill between a save and its pruning left one too many: prune now, or
                # repeated kills would pile them up (never a checkpoint resumed from)
                run.prune_checkpoints(settings.keep_checkpoints)
            run.rewrite_records(history)
        where = f"epoch {start_epoch}" + (f", step {resume_from.step}" if resume_from.step else "")
        say(f"Resuming {preset.name} from {resume_from.path} ({where})")
        if start_epoch >= settings.epochs:
            say(f"The run is already trained for {start_epoch} of {settings.epochs} epochs; "
                "pass --epochs N to train longer.")
    else:
        run = Run(options.out or default_run_dir(preset))
        start_epoch, history = 0, []
        if main:  # another rank fails at once in DDP's first broadcast if this raises
            if run.holds_a_run():
                raise ConfigError(f"{run.root} already holds a run; continue it with --resume "
                                  f"{run.root} or choose another --out")
            run.create(preset)
            save_grid(to_unit_range(data.images[:N_FIXED]), run.samples / "real.png")
            run.rewrite_records([])
    if world.size > 1:  # after a resume: DDP starts every rank from rank 0's weights
        eager.call_g, eager.call_d = distributed.wrap(G, device), distributed.wrap(D, device)

    scoring = settings.eval_every and main
    scorer = scorer_for(parts.dataset, data_root, device, say)[0] if scoring else None
    critic = f", {settings.n_critic} D updates per G update" if settings.n_critic > 1 else ""
    ranks = f" x {world.size} processes" if world.size > 1 else ""
    say(f"Training {preset.name} on {device}{ranks} for {settings.epochs} epochs "
        f"({steps_per_epoch} steps of {images_per_step(settings) * world.size} images{critic}); "
        f"run directory: {run.root}")
    loop = _EpochLoop(preset, options, run, step, data, world)
    rollbacks, epoch = 0, start_epoch
    with GracefulStop(repeat_grace_s=5.0 if world.size > 1 else 0.0) as stop:
        while epoch < settings.epochs:
            resumed = resume_from if resume_from is not None and epoch == start_epoch else None
            try:
                record = loop.run_epoch(epoch, stop, resumed)
                say(f"Epoch [{epoch}/{settings.epochs}] Loss D: {record['loss_d']:.4f}, "
                    f"loss G: {record['loss_g']:.4f} | {record['samples_per_s']:,.0f} samples/s")
                last = epoch == settings.epochs - 1
                if scorer is not None and ((epoch + 1) % settings.eval_every == 0 or last):
                    quality = scorer.score_generator(shown, seed=settings.seed + 2)
                    record["quality"] = quality.as_dict()
                    say(f"Epoch [{epoch}/{settings.epochs}] quality: {quality.summary()}")
                history.append(record)
                if main:
                    run.append_record(record)
                if main and (epoch % settings.sample_every == 0 or last):
                    _save_samples(shown, fixed_noise, run.samples / f"epoch-{epoch:04d}.png")
                    if len(history) > 1 or last:  # one epoch is no curve yet
                        save_loss_plot(history, run.root / "loss.png", preset.name)
                saved = loop.save(epoch + 1)
            except Diverged as exc:
                if options.on_nan != "rollback" or rollbacks == MAX_ROLLBACKS:
                    raise
                rollbacks += 1
                resume_from = loop.roll_back(exc)
                start_epoch = epoch = resume_from.epoch
                history = run.records(before_epoch=epoch)
                if main:
                    run.rewrite_records(history)
                continue
            if stop.requested and not last:
                raise loop.interrupted(stop, saved)
            epoch += 1

    try:
        if main:
            checkpoint.export_generator(run.root / "generator.safetensors", preset=preset,
                                        epoch=max(settings.epochs, start_epoch), generator=G,
                                        ema=eager.ema)
    except OSError as exc:
        raise TrainingError(f"could not write {run.root / 'generator.safetensors'}: "
                            f"{exc.strerror or exc}; the training checkpoints in "
                            f"{run.checkpoints} hold the generator too") from None
    say(f"Done. Samples, metrics and checkpoints are in {run.root}")
    return run.root


class _EpochLoop:
    """Runs epochs step by step, checkpointing inside them on a cadence or on a signal."""

    def __init__(self, preset: Preset, options: RunOptions, run: Run,
                 step: TrainStep | CudaGraphStep, data: DeviceImages,
                 world: distributed.World = distributed.SINGLE) -> None:
        self.preset, self.options, self.run, self.step, self.data = preset, options, run, step, data
        self.world = world
        self.eager = step.step if isinstance(step, CudaGraphStep) else step
        self.last_save = time.monotonic()

    def save(self, epoch: int, step: int = 0, **epoch_state) -> Path:
        """Write a checkpoint (rank 0 only; every rank checks its weights first)."""
        path = self.run.checkpoint_path(epoch, step)
        e = self.eager
        for name, module in (("generator", e.generator), ("discriminator", e.discriminator)):
            if not all(torch.isfinite(p).all() for p in module.parameters()):
                raise Diverged(
                    f"the {name}'s weights became NaN or infinite by epoch {epoch}, step "
                    f"{step}; not saving them. Last good checkpoint: {self.last_good()}")
        if not self.world.is_main:
            return path
        try:
            checkpoint.save_training(path, preset=self.preset, epoch=epoch, step=step,
                                     generator=e.generator, discriminator=e.discriminator,
                                     opt_g=e.opt_g, opt_d=e.opt_d, ema=e.ema,
                                     world_size=self.world.size, **epoch_state)
        except OSError as exc:
            problem = (f"could not write checkpoint {path}: {exc.strerror or exc}; the newest "
                       f"saved one, {self.last_good()}, is intact")
            if self.options.on_save_error != "continue":
                raise TrainingError(problem) from None
            tqdm.write(f"ganzoo: warning: {problem}; training on (--on-save-error continue)",
                       file=sys.stderr)
            return Path(self.last_good())
        self.run.prune_checkpoints(self.preset.train.keep_checkpoints)
        self.last_save = time.monotonic()
        return path

    def roll_back(self, exc: Diverged) -> checkpoint.Checkpoint:
        """Reload the newest checkpoint into the live models and optimisers, with both
        learning rates halved; returns it (the loop continues from its position)."""
        newest = checkpoints_in(self.run.root)
        if not newest:
            raise exc
        ckpt = checkpoint.load_training(newest[-1])
        e = self.eager
        live = [[g["lr"] for g in opt.param_groups] for opt in (e.opt_g, e.opt_d)]
        checkpoint.restore_training(ckpt, generator=e.generator, discriminator=e.discriminator,
                                    opt_g=e.opt_g, opt_d=e.opt_d, ema=e.ema)
        for opt, lrs in zip((e.opt_g, e.opt_d), live, strict=True):
            for group, lr in zip(opt.param_groups, lrs, strict=True):
                group["lr"] = lr / 2  # of the rate that diverged, also on a repeated roll-back
        if isinstance(self.step, CudaGraphStep):  # the captured graph holds the old lr
            self.step = CudaGraphStep(e)
        lrs = ", ".join(f"{opt.param_groups[0]['lr']:.3g}" for opt in (e.opt_g, e.opt_d))
        tqdm.write(f"ganzoo: warning: {exc} Rolled back to {ckpt.path}; learning rates of "
                   f"G, D now {lrs}.", file=sys.stderr)
        return ckpt

    def last_good(self) -> str:
        newest = checkpoints_in(self.run.root)
        return str(newest[-1]) if newest else "none"

    def _due(self, steps_done: int) -> bool:
        every_steps, every_s = self.options.checkpoint_every_steps, self.options.checkpoint_every_s
        return bool((every_steps and steps_done % every_steps == 0)
                    or (every_s and time.monotonic() - self.last_save >= every_s))

    def _stop_or_save(self, stop: GracefulStop, done: int, at_log: bool) -> tuple[bool, bool]:
        """(stop now, checkpoint now). Ranks decide together, when they read losses anyway:
        a checkpoint or a stop on one rank alone would leave the others waiting."""
        if self.world.size == 1:
            return stop.requested, self._due(done)
        if not at_log:
            return False, False
        flags = torch.tensor([float(stop.requested), float(self._due(done))],
                             device=self.data.device)
        flags = distributed.max_over_ranks(flags)
        return bool(flags[0]), bool(flags[1])

    def interrupted(self, stop: GracefulStop, saved: Path) -> Interrupted:
        if not self.world.is_main:  # rank 0 says it for all
            return Interrupted("", exit_code=stop.exit_code)
        launcher = (f"torchrun --nproc-per-node {self.world.size} -m "
                    if self.world.size > 1 else "")
        command = [f"{launcher}ganzoo train {self.preset.name} --resume {self.run.root}"]
        if self.options.data_dir:
            command.append(f"--data-dir {self.options.data_dir}")
        if self.options.device:
            command.append(f"--device {self.options.device}")
        return Interrupted(f"{stop.name}: stopped after saving {saved}. Resume with: "
                           + " ".join(command), exit_code=stop.exit_code)

    def run_epoch(self, epoch: int, stop: GracefulStop,
                  resumed: checkpoint.Checkpoint | None) -> dict:
        settings, data, world = self.preset.train, self.data, self.world
        per_rank, epochs = images_per_step(settings), settings.epochs
        batch_size = per_rank * world.size  # the global batch
        steps = data.steps_per_epoch(batch_size)
        start, total, elapsed = 0, torch.zeros(2, device=data.device), 0.0
        if resumed is not None and resumed.step:
            # redraw this epoch's order from the RNG state at its start, then continue
            epoch_rng = resumed.section("epoch_rng")
            current = checkpoint.rng_states()
            checkpoint.set_rng_states(epoch_rng)
            order = data.order()
            checkpoint.set_rng_states(current)
            # a run saved with another number of processes: continue at the same image
            start = resumed.step * int(resumed.metadata.get("world_size", "1")) // world.size
            total += resumed.tensors["epoch_loss_sum"].to(data.device)
            elapsed = float(resumed.metadata["elapsed"])
        else:
            epoch_rng = checkpoint.rng_states()
            order = data.order()
        bar = tqdm(total=steps * batch_size, initial=start * batch_size, unit="img",
                   unit_scale=True, leave=False, desc=f"epoch {epoch}/{epochs}",
                   disable=True if self.options.quiet else None, file=sys.stderr)
        began, shown = time.perf_counter(), start
        G, mine = self.eager.generator, slice(world.rank * per_rank, (world.rank + 1) * per_rank)
        shards = data.batches(order, per_rank, start, world.rank, world.size)
        for i, (real, labels) in enumerate(shards, start):
            # noise for the global batch, of which this rank takes its rows: every rank's RNG
            # stays in step, and N ranks train on what one process with N batches would
            noise = G.sample_noise(batch_size, data.device)[mine]
            losses = self.step(real, labels, noise)
            total += losses
            done = i + 1
            at_log = done % settings.log_every == 0 or done == steps
            if at_log:
                # the only host sync, every log_every steps; the mean over ranks in DDP
                loss_d, loss_g = distributed.mean_over_ranks(losses, world).tolist()
                if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
                    raise Diverged(f"training diverged at epoch {epoch}, step {i}: "
                                        f"loss D {loss_d}, loss G {loss_g}. Last good "
                                        f"checkpoint: {self.last_good()}")
                bar.set_postfix_str(f"loss D {loss_d:.3f} G {loss_g:.3f}", refresh=False)
                bar.update((done - shown) * batch_size)
                shown = done
            stop_now, save_now = self._stop_or_save(stop, done, at_log)
            if done < steps and (stop_now or save_now):
                saved = self.save(epoch, done, epoch_start_rng=epoch_rng,
                                  loss_sum=distributed.mean_over_ranks(total, world),
                                  elapsed=elapsed + time.perf_counter() - began)
                if stop_now:
                    bar.close()
                    raise self.interrupted(stop, saved)
        elapsed += time.perf_counter() - began
        bar.close()
        mean_d, mean_g = (distributed.mean_over_ranks(total, world) / steps).tolist()
        return {"epoch": epoch, "steps": steps, "loss_d": mean_d, "loss_g": mean_g,
                "samples_per_s": steps * batch_size / elapsed, "time_s": elapsed}


def images_per_step(settings) -> int:
    """Real images one step consumes: a batch for each of its ``n_critic`` D updates."""
    return settings.batch_size * settings.n_critic


def _fixed_noise(generator, seed: int) -> torch.Tensor:
    """The same noise for every grid of a run, drawn without touching the training RNG.
    A conditional generator gets whole rows of its classes in turn."""
    classes = generator.num_classes
    n = classes * max(1, N_FIXED // classes) if classes else N_FIXED
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return generator.sample_noise(n, "cpu")


@torch.no_grad()
def _save_samples(G, noise: torch.Tensor, path: Path) -> None:
    was_training = G.training
    G.eval()
    save_grid(G.generate(noise), path, nrow=G.num_classes or 8)
    G.train(was_training)
