"""The training loop: build a preset's components, train them epoch by epoch, keep the run
directory. Read top to bottom: ``train`` sets up, ``_epochs`` runs them, ``run_epoch`` runs
the steps of one.

SIGINT or SIGTERM finishes the current step, saves a checkpoint and raises
:class:`~ganzoo.core.errors.Interrupted` naming it and the command that resumes. Started by
torchrun, every process trains its share of each batch in DDP; rank 0 alone writes.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from ..core.build import build, build_component
from ..core.datasets import default_data_root
from ..core.errors import CheckpointError, Diverged, TrainingError
from ..core.interfaces import Callback, Preset, TrainSettings
from . import checkpoint, distributed, environment
from .batches import DeviceImages
from .callbacks import N_FIXED, Callbacks, Training, fixed_noise, standard_callbacks
from .devices import resolve_device
from .interrupt import GracefulStop
from .options import RunOptions
from .recovery import Recovery
from .rundir import RunDir, default_run_dir, find_checkpoint, run_dir_of
from .step import CudaGraphStep, TrainStep


def train(preset: Preset, options: RunOptions | None = None,
          callbacks: Sequence[Callback] | None = None) -> Path:
    """Train ``preset`` (or resume a run of it) and return the run directory.

    ``callbacks`` default to :func:`~ganzoo.engine.callbacks.standard_callbacks`; the
    preset's own callbacks run after them.
    """
    options = options or RunOptions()
    device = resolve_device(options.device)
    callbacks = standard_callbacks() if callbacks is None else list(callbacks)
    if not distributed.launched():
        return _train(preset, options, device, distributed.SINGLE, callbacks)
    world = distributed.join(device)
    try:
        if not world.is_main:  # rank 0 alone shows progress and writes files
            options = dataclasses.replace(options, quiet=True)
        return _train(preset, options, distributed.rank_device(device, world), world, callbacks)
    finally:
        distributed.leave()


def _train(preset: Preset, options: RunOptions, device: torch.device,
           world: distributed.World, callbacks: list[Callback]) -> Path:
    settings, main = preset.train, world.is_main
    data_root = Path(options.data_dir) if options.data_dir else default_data_root()
    say = (lambda msg: None) if options.quiet else (lambda msg: tqdm.write(msg, file=sys.stdout))
    resumed = checkpoint.load_training(find_checkpoint(options.resume)) if options.resume else None
    if resumed is not None and resumed.preset.name != preset.name:
        raise CheckpointError(f"{resumed.path} is a run of preset {resumed.preset.name!r}, "
                              f"not {preset.name!r}")

    # models, optimisers and data, in the order that seeds them
    torch.manual_seed(settings.seed)
    parts = build(preset).to(device)
    G, D = parts.generator, parts.discriminator
    graphs = options.cuda_graphs and device.type == "cuda" and world.size == 1
    eager = TrainStep.from_parts(parts, preset, options.precision, capturable=graphs)
    images, labels = parts.dataset.load("train", data_root)
    data = DeviceImages(images, labels, device, hflip=settings.hflip)
    steps_per_epoch = data.steps_per_epoch(images_per_step(settings) * world.size)
    extra = [build_component("callback", ref) for ref in preset.callbacks]

    # the run directory: the resumed run's, or a new one
    start_epoch, history = 0, []
    if resumed is not None:
        eager.restore(resumed)
        run = RunDir(options.out or run_dir_of(resumed.path) or default_run_dir(preset))
        start_epoch = resumed.epoch
        if main:
            history = run.reopen(preset, resumed.path, start_epoch, settings.keep_checkpoints)
        where = f"epoch {start_epoch}" + (f", step {resumed.step}" if resumed.step else "")
        say(f"Resuming {preset.name} from {resumed.path} ({where})")
        if start_epoch >= settings.epochs:
            say(f"The run is already trained for {start_epoch} of {settings.epochs} epochs; "
                "ask for more epochs to train longer.")
    else:
        run = RunDir(options.out or default_run_dir(preset))
        if main:  # another rank fails at once in DDP's first broadcast if this raises
            run.start(preset)
    if world.size > 1:  # after a resume: DDP starts every rank from rank 0's weights
        eager.call_g, eager.call_d = distributed.wrap(G, device), distributed.wrap(D, device)
        eager.call_nets = {name: distributed.wrap(module, device)
                           for name, module in eager.networks.items()}
        eager.ranks = world.size

    recovery = Recovery(preset, options, run, eager, world, device)
    training = Training(preset=preset, run_dir=run, device=device,
                        generator=G if eager.ema is None else eager.ema, dataset=parts.dataset,
                        data_root=data_root, real_images=images[:N_FIXED],
                        fixed_noise=fixed_noise(G, settings.seed).to(device),
                        start_epoch=start_epoch, resumed=resumed is not None, history=history,
                        say=say)
    hooks = Callbacks([*callbacks, *extra] if main else [], training, lambda: (
        f"The newest checkpoint, {recovery.last_good()}, is intact; resume with: "
        f"{recovery.resume_command()}"))
    if main:
        run.record_environment(environment.describe(device, world.size))
    hooks.train_start()
    critic = f", {settings.n_critic} D updates per G update" if settings.n_critic > 1 else ""
    ranks = f" x {world.size} processes" if world.size > 1 else ""
    say(f"Training {preset.name} on {device}{ranks} for {settings.epochs} epochs "
        f"({steps_per_epoch} steps of {images_per_step(settings) * world.size} images{critic}); "
        f"run directory: {run.root}")
    step = CudaGraphStep(eager) if graphs else eager
    _epochs(training, step, data, recovery, hooks, resumed, world, options.quiet)

    if main:
        try:
            checkpoint.export_generator(run.generator, preset=preset,
                                        epoch=max(settings.epochs, start_epoch), generator=G,
                                        ema=eager.ema)
        except OSError as exc:
            raise TrainingError(f"could not write {run.generator}: {exc.strerror or exc}; the "
                                f"training checkpoints in {run.checkpoints} hold the generator "
                                "too") from None
    hooks.train_end()
    say(f"Done. Samples, metrics and checkpoints are in {run.root}")
    return run.root


def _epochs(training: Training, step: TrainStep | CudaGraphStep, data: DeviceImages,
            recovery: Recovery, hooks: Callbacks, resumed: checkpoint.Checkpoint | None,
            world: distributed.World, quiet: bool) -> None:
    """Every epoch from ``training.start_epoch``: its steps, its record and callbacks, its
    checkpoint; a divergence rolls back when the options say so."""
    settings, history, run = training.preset.train, training.history, training.run_dir
    epoch = start_epoch = training.start_epoch
    with GracefulStop(repeat_grace_s=5.0 if world.size > 1 else 0.0) as stop:
        while epoch < settings.epochs:
            within = resumed if resumed is not None and epoch == start_epoch else None
            if recovery.step.start_epoch(epoch, settings.epochs) and isinstance(step,
                                                                            CudaGraphStep):
                step = CudaGraphStep(step.step)  # a captured graph holds the old rates
            try:
                record = run_epoch(epoch, settings, step, data, recovery, stop, within, world,
                                   quiet)
                training.say(f"Epoch [{epoch}/{settings.epochs}] Loss D: {record['loss_d']:.4f}"
                             f", loss G: {record['loss_g']:.4f} | "
                             f"{record['samples_per_s']:,.0f} samples/s")
                history.append(record)
                hooks.epoch_end(record)
                saved = recovery.save(epoch + 1)
                hooks.checkpoint_saved(saved, epoch)
            except Diverged as exc:
                resumed = recovery.roll_back(exc)
                if isinstance(step, CudaGraphStep):  # the captured graph holds the old lr
                    step = CudaGraphStep(step.step)
                start_epoch = epoch = resumed.epoch
                history[:] = run.records(before_epoch=epoch)
                if world.is_main:
                    run.rewrite_records(history)
                continue
            if stop.requested and not training.is_last(epoch):
                raise recovery.interrupted(stop, saved)
            epoch += 1


def run_epoch(epoch: int, settings: TrainSettings, step: TrainStep | CudaGraphStep,
              data: DeviceImages, recovery: Recovery, stop: GracefulStop,
              resumed: checkpoint.Checkpoint | None, world: distributed.World,
              quiet: bool = False) -> dict:
    """The steps of one epoch (from where ``resumed`` stopped inside it, if given), with
    checkpoints inside it on the options' cadence or on a signal; returns its record."""
    per_rank = images_per_step(settings)
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
               unit_scale=True, leave=False, desc=f"epoch {epoch}/{settings.epochs}",
               disable=True if quiet else None, file=sys.stderr)
    began, shown = time.perf_counter(), start
    G, mine = recovery.step.generator, slice(world.rank * per_rank, (world.rank + 1) * per_rank)
    for i, (real, labels) in enumerate(data.batches(order, per_rank, start, world.rank,
                                                    world.size), start):
        # noise for the global batch, of which this rank takes its rows: every rank's RNG
        # stays in step, and N ranks train on what one process with N batches would
        noise = G.sample_noise(batch_size, data.device)[mine]
        losses = step(real, labels, noise)
        total += losses
        done = i + 1
        at_log = done % settings.log_every == 0 or done == steps
        if at_log:
            # the only host sync, every log_every steps; the mean over ranks in DDP
            loss_d, loss_g = distributed.mean_over_ranks(losses, world).tolist()
            if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
                raise Diverged(f"training diverged at epoch {epoch}, step {i}: loss D "
                               f"{loss_d}, loss G {loss_g}. Last good checkpoint: "
                               f"{recovery.last_good()}")
            bar.set_postfix_str(f"loss D {loss_d:.3f} G {loss_g:.3f}", refresh=False)
            bar.update((done - shown) * batch_size)
            shown = done
        stop_now, save_now = recovery.stop_or_save(stop, done, at_log)
        if done < steps and (stop_now or save_now):
            saved = recovery.save(epoch, done, epoch_start_rng=epoch_rng,
                                  loss_sum=distributed.mean_over_ranks(total, world),
                                  elapsed=elapsed + time.perf_counter() - began)
            if stop_now:
                bar.close()
                raise recovery.interrupted(stop, saved)
    elapsed += time.perf_counter() - began
    bar.close()
    mean_d, mean_g = (distributed.mean_over_ranks(total, world) / steps).tolist()
    return {"epoch": epoch, "steps": steps, "loss_d": mean_d, "loss_g": mean_g,
            "samples_per_s": steps * batch_size / elapsed, "time_s": elapsed,
            **{f"state_{name}": value.item() for name, value in recovery.step.state.items()
               if value.numel() == 1},
            **{f"lr_{side}": recovery.step.optimizer(side).param_groups[0]["lr"]
               for side in recovery.step.schedules}}


def images_per_step(settings: TrainSettings) -> int:
    """Real images one step consumes: a batch for each of its ``n_critic`` D updates."""
    return settings.batch_size * settings.n_critic
