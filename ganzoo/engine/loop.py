"""The training loop, one for a single run and a population: build what a preset names,
train it epoch by epoch, keep the run directory. Read top to bottom: ``train`` sets up,
``_epochs`` runs them, ``run_epoch`` runs the steps of one.

What differs between a run and a population lives in a *trainee*:
:class:`~ganzoo.engine.solo.Solo` (one model, torch's global RNG, one run directory;
under torchrun, this process's share of each batch) or
:class:`~ganzoo.engine.members.Members` (K stacked members, one RNG stream and one run
directory each, a diverged member frozen). Everything else -- callbacks (one list per
member), records, checkpoints on their cadence, evaluation, SIGINT, the resume hint -- is
written once, here and in :mod:`~ganzoo.engine.recovery`.

SIGINT or SIGTERM finishes the current step, saves a checkpoint and raises
:class:`~ganzoo.core.errors.Interrupted` naming it and the command that resumes.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from ..core.build import build_component
from ..core.datasets import default_data_root
from ..core.errors import CheckpointError, ConfigError, Diverged
from ..core.interfaces import Callback, Preset
from . import checkpoint, distributed, environment
from .batches import ImageBatches
from .callbacks import N_FIXED, Callbacks, Training, fixed_noise, standard_callbacks
from .devices import resolve_device
from .interrupt import GracefulStop
from .members import Members, plan_members
from .options import RunOptions
from .recovery import Recovery
from .rundir import RunDir, default_run_dir, find_checkpoint, run_dir_of
from .solo import Solo
from .step import recapture
from .stream import StreamedImages, training_images

CallbackFactory = Callable[[], Sequence[Callback]]


@dataclasses.dataclass(frozen=True)
class PopulationPlan:
    """Train ``size`` members (times each point of the ``sweep`` grid) instead of one run."""

    size: int = 1
    sweep: Mapping[str, Sequence] | None = None


def train(preset: Preset, options: RunOptions | None = None,
          callbacks: CallbackFactory | None = None,
          population: PopulationPlan | None = None) -> Path:
    """Train ``preset`` (or resume a run of it) and return the run directory.

    ``callbacks`` makes the callbacks of one run, called once per member of a population
    (default: :func:`~ganzoo.engine.callbacks.standard_callbacks`); the preset's own
    callbacks are built for each and run after them. ``population`` trains members
    instead of one run; resuming a population's checkpoint continues its members.
    """
    options = options or RunOptions()
    device = resolve_device(options.device)
    if not distributed.launched():
        return _train(preset, options, device, distributed.SINGLE, callbacks, population)
    if population is not None:
        raise ConfigError("a population trains in one process: start it without torchrun")
    world = distributed.join(device)
    try:
        if not world.is_main:  # rank 0 alone shows progress and writes files
            options = dataclasses.replace(options, quiet=True)
        return _train(preset, options, distributed.rank_device(device, world), world,
                      callbacks, None)
    finally:
        distributed.leave()


def _train(preset: Preset, options: RunOptions, device: torch.device,
           world: distributed.World, callbacks: CallbackFactory | None,
           population: PopulationPlan | None) -> Path:
    settings = preset.train
    data_root = Path(options.data_dir) if options.data_dir else default_data_root()
    say = (lambda msg: None) if options.quiet else (lambda msg: tqdm.write(msg, file=sys.stdout))
    resumed = _resumed(preset, options, population)
    trainee = _trainee(preset, options, device, world, resumed, population, say)
    images, data = _training_data(trainee, data_root, options, device, say)
    steps_per_epoch = data.steps_per_epoch(trainee.batch)

    if resumed is not None:
        trainee.restore(resumed)
        where = f"epoch {resumed.epoch}" + (f", step {resumed.step}" if resumed.step else "")
        say(f"Resuming {preset.name} from {resumed.path} ({where})")
        if resumed.epoch >= settings.epochs:
            say(f"The run is already trained for {resumed.epoch} of {settings.epochs} epochs; "
                "ask for more epochs to train longer.")
    root = RunDir(options.out or (run_dir_of(resumed.path) if resumed else None)
                  or default_run_dir(preset))
    runs = trainee.open_runs(root, resumed, environment.describe(device, world.size))
    trainee.start(device)
    trainee.sync_shown()
    recovery = Recovery(preset, options, root, trainee, world, device)
    trainings = [Training(preset=mine, run_dir=run, device=device, generator=shown,
                          dataset=trainee.dataset, data_root=data_root,
                          real_images=images[:N_FIXED],
                          fixed_noise=fixed_noise(shown, mine.train.seed, images).to(device),
                          start_epoch=resumed.epoch if resumed else 0,
                          resumed=resumed is not None, history=history, say=say,
                          weights=functools.partial(trainee.weights, i))
                 for i, (mine, (run, history), shown) in enumerate(
                     zip(trainee.presets, runs, trainee.shown(), strict=True))]
    hooks = [_callbacks(training, callbacks, recovery) for training in trainings]
    for h in hooks:
        h.train_start()
    say(f"{trainee.describe(steps_per_epoch, device)}; run directory: {root.root}")
    _epochs(trainee, trainings, data, recovery, hooks, resumed, options.quiet)

    if world.is_main:
        trainee.export([t.run_dir for t in trainings],
                       max(settings.epochs, trainings[0].start_epoch))
    for h in hooks:
        h.train_end()
    if (last := trainee.farewell()) is not None:
        say(last)
    say(f"Done. Samples, metrics and checkpoints are in {root.root}")
    return root.root


def _training_data(trainee, data_root: Path, options: RunOptions, device: torch.device,
                   say) -> tuple[torch.Tensor, ImageBatches]:
    """The training split's images, and their batches: on the device, or streamed from
    disk when they take more memory than ``options.stream_above`` allows."""
    images, labels = trainee.dataset.load("train", data_root)
    train = trainee.preset.train
    data = training_images(images, labels, device, train.hflip, options.stream_above,
                           train.jitter)
    if isinstance(data, StreamedImages):
        limit = ("half the memory available" if options.stream_above is None
                 else f"{options.stream_above:,} bytes")
        say(f"Streaming the {len(data):,} training images from disk: they take more than "
            f"{limit}")
    return images, data


def _trainee(preset: Preset, options: RunOptions, device: torch.device,
             world: distributed.World, resumed: checkpoint.Checkpoint | None,
             population: PopulationPlan | None, say) -> Solo | Members:
    """What this run trains: one model, or the members a population plans (or resumes)."""
    if resumed is not None and resumed.members is not None:
        return Members(preset, options, device, resumed.members, say)
    if population is not None:
        members = plan_members(preset, population.size, population.sweep)
        return Members(preset, options, device, members, say)
    return Solo(preset, options, device, world)


def _callbacks(training: Training, made: CallbackFactory | None,
               recovery: Recovery) -> Callbacks:
    """One run's (or member's) callbacks: ``made``'s, then the preset's own, built for it;
    on a rank other than 0, only those asking for ``every_rank``."""
    chosen = [*(made or standard_callbacks)(),
              *(build_component("callback", ref) for ref in training.preset.callbacks)]
    if not recovery.world.is_main:
        chosen = [c for c in chosen if c.every_rank]
    return Callbacks(chosen, training, lambda: (
        f"The newest checkpoint, {recovery.last_good()}, is intact; resume with: "
        f"{recovery.resume_command()}"))


def _resumed(preset: Preset, options: RunOptions, population: PopulationPlan | None
             ) -> checkpoint.Checkpoint | None:
    """The checkpoint a resumed run continues from, checked against what is asked."""
    if not options.resume:
        return None
    resumed = checkpoint.load_training(find_checkpoint(options.resume))
    if resumed.preset.name != preset.name:
        raise CheckpointError(f"{resumed.path} is a run of preset {resumed.preset.name!r}, "
                              f"not {preset.name!r}")
    if population is not None and resumed.members is None:
        raise CheckpointError(f"{resumed.path} is a single run's checkpoint; resume it "
                              "without --population")
    return resumed


def _epochs(trainee, trainings: list[Training], data: ImageBatches, recovery: Recovery,
            hooks: list[Callbacks], resumed: checkpoint.Checkpoint | None, quiet: bool) -> None:
    """Every epoch from the start: its steps, each member's record and callbacks, its
    checkpoint; a divergence rolls back when the options say so."""
    settings = trainee.preset.train
    epoch = start_epoch = trainings[0].start_epoch
    with GracefulStop(repeat_grace_s=5.0 if recovery.world.size > 1 else 0.0) as stop:
        while epoch < settings.epochs:
            within = resumed if resumed is not None and epoch == start_epoch else None
            if trainee.step.schedule_rates("epoch", epoch, settings.epochs):
                recapture(trainee.replay)  # a captured graph holds the old rates
            try:
                records = run_epoch(epoch, trainee, data, recovery, stop, within, quiet)
                trainee.sync_shown()
                trainings[0].say(trainee.summary(epoch, records))
                for training, h, record in zip(trainings, hooks, records, strict=True):
                    training.history.append(record)
                    h.epoch_end(record)
                saved = recovery.save(epoch + 1)
                for h in hooks:
                    h.checkpoint_saved(saved, epoch)
            except Diverged as exc:
                resumed = recovery.roll_back(exc)
                recapture(trainee.replay)  # the captured graph holds the old weights
                start_epoch = epoch = resumed.epoch
                if recovery.world.is_main:
                    for training in trainings:
                        training.history[:] = training.run_dir.records(before_epoch=epoch)
                        training.run_dir.rewrite_records(training.history)
                continue
            if stop.requested and not trainings[0].is_last(epoch):
                raise recovery.interrupted(stop, saved)
            epoch += 1


def run_epoch(epoch: int, trainee, data: ImageBatches, recovery: Recovery, stop: GracefulStop,
              resumed: checkpoint.Checkpoint | None, quiet: bool = False) -> list[dict]:
    """The steps of one epoch (from where ``resumed`` stopped inside it, if given), with
    checkpoints inside it on the options' cadence or on a signal; returns its records (one,
    or one per member)."""
    settings, batch, rng = trainee.preset.train, trainee.batch, trainee.rng
    steps = data.steps_per_epoch(batch)
    start, total, elapsed = 0, torch.zeros(trainee.loss_shape, device=data.device), 0.0
    if resumed is not None and resumed.step:
        # redraw this epoch's order from the RNG state at its start, then continue
        epoch_rng = rng.unflatten(resumed.epoch_rng)
        orders = rng.redraw(epoch_rng, data.order)
        start, elapsed = trainee.start_step(resumed), resumed.elapsed
        total += resumed.epoch_loss_sum.to(data.device)
    else:
        epoch_rng = rng.snapshot()
        orders = rng.draw(data.order)
    bar = tqdm(total=steps * batch, initial=start * batch, unit="img", unit_scale=True,
               leave=False, desc=f"epoch {epoch}/{settings.epochs}",
               disable=True if quiet else None, file=sys.stderr)
    began, shown = time.perf_counter(), start
    step = trainee.step
    for i, (real, labels) in enumerate(trainee.batches(data, orders, start), start):
        if step.per_step and step.schedule_rates("step", step.updates, steps * settings.epochs):
            recapture(trainee.replay)  # a captured graph holds the old rates
        losses = trainee.replay(real, labels, trainee.noise(data.device))
        total += losses
        done = i + 1
        at_log = done % settings.log_every == 0 or done == steps
        if at_log:
            text = trainee.check_losses(losses, total, epoch, i, recovery.last_good)
            if text:
                bar.set_postfix_str(text, refresh=False)
            bar.update((done - shown) * batch)
            shown = done
        stop_now, save_now = recovery.stop_or_save(stop, done, at_log)
        if done < steps and (stop_now or save_now):
            inside = checkpoint.InEpoch(done, rng.flatten(epoch_rng),
                                        trainee.mean_over_ranks(total),
                                        elapsed + time.perf_counter() - began)
            saved = recovery.save(epoch, inside)
            if stop_now:
                bar.close()
                raise recovery.interrupted(stop, saved)
    elapsed += time.perf_counter() - began
    bar.close()
    trainee.check_weights(epoch, 0, recovery.last_good)  # before its record and checkpoint
    record = {"epoch": epoch, "steps": steps, "samples_per_s": steps * batch / elapsed,
              "time_s": elapsed}
    return trainee.records(record, trainee.mean_over_ranks(total) / steps)
