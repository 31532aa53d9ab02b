"""The save / roll-back / stop policy: when to checkpoint, and what to do when a write
fails, a loss or weight turns non-finite, or a signal asks the run to stop."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..core.errors import Diverged, Interrupted, TrainingError
from ..core.interfaces import Preset
from . import checkpoint, distributed
from .interrupt import GracefulStop
from .options import RunOptions
from .rundir import RunDir, checkpoints_in
from .step import TrainStep

MAX_ROLLBACKS = 5  # on_nan="rollback" gives up after this many in one run


class Recovery:
    """Writes checkpoints on their cadence and decides what a failure or a signal does.
    ``trainee`` is what the loop trains (:class:`~ganzoo.engine.solo.Solo` or
    :class:`~ganzoo.engine.members.Members`): it checks the weights before a save and adds
    what its checkpoints hold beyond the step's."""

    def __init__(self, preset: Preset, options: RunOptions, run: RunDir, trainee,
                 world: distributed.World, device: torch.device) -> None:
        self.preset, self.options, self.run, self.trainee = preset, options, run, trainee
        self.step: TrainStep = trainee.step
        self.world, self.device = world, device
        self.last_save = time.monotonic()
        self.rollbacks = 0

    def save(self, epoch: int, inside: checkpoint.InEpoch | None = None) -> Path:
        """Write a checkpoint, ``epoch`` epochs done and, ``inside`` one, its steps into the
        next (rank 0 only; every rank checks its weights first: non-finite weights are never
        saved)."""
        path = self.run.checkpoint_path(epoch, inside.step if inside else 0)
        if inside is not None:  # at an epoch's end, run_epoch has checked them already
            self.trainee.check_weights(epoch, inside.step, self.last_good)
        if not self.world.is_main:
            return path
        tensors, metadata = self.trainee.checkpoint_extras()
        try:
            checkpoint.save_training(path, preset=self.preset, epoch=epoch,
                                     parts=self.step.checkpointed(), inside=inside,
                                     world_size=self.world.size, extra_tensors=tensors,
                                     extra_metadata=metadata)
        except OSError as exc:
            problem = (f"could not write checkpoint {path}: {exc.strerror or exc}; the newest "
                       f"saved one, {self.last_good()}, is intact")
            if self.options.on_save_error != "continue":
                raise TrainingError(problem) from None
            tqdm.write(f"ganzoo: warning: {problem}; training on (on_save_error=continue)",
                       file=sys.stderr)
            return Path(self.last_good())
        self.run.prune_checkpoints(self.preset.train.keep_checkpoints)
        self.last_save = time.monotonic()
        return path

    def roll_back(self, exc: Diverged) -> checkpoint.Checkpoint:
        """With on_nan="rollback", reload the newest checkpoint into the live models and
        optimisers with both learning rates halved, and return it (training continues from
        its position); otherwise, or past MAX_ROLLBACKS, re-raise ``exc``."""
        newest = checkpoints_in(self.run.root)
        if self.options.on_nan != "rollback" or self.rollbacks == MAX_ROLLBACKS or not newest:
            raise exc
        self.rollbacks += 1
        ckpt = checkpoint.load_training(newest[-1])
        s = self.step
        # the rates that diverged (and those a schedule scales), also on a repeated roll-back
        live = [[(g["lr"], g.get("initial_lr")) for g in opt.param_groups]
                for opt in (s.opt_g, s.opt_d)]
        s.restore(ckpt)
        for opt, lrs in zip((s.opt_g, s.opt_d), live, strict=True):
            for group, (lr, scheduled) in zip(opt.param_groups, lrs, strict=True):
                group["lr"] = lr / 2
                if scheduled is not None:
                    group["initial_lr"] = scheduled / 2
        lrs = ", ".join(f"{opt.param_groups[0]['lr']:.3g}" for opt in (s.opt_g, s.opt_d))
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

    def stop_or_save(self, stop: GracefulStop, done: int, at_log: bool) -> tuple[bool, bool]:
        """(stop now, checkpoint now). Ranks decide together, when they read losses anyway:
        a checkpoint or a stop on one rank alone would leave the others waiting."""
        if self.world.size == 1:
            return stop.requested, self._due(done)
        if not at_log:
            return False, False
        flags = torch.tensor([float(stop.requested), float(self._due(done))], device=self.device)
        flags = distributed.max_over_ranks(flags)
        return bool(flags[0]), bool(flags[1])

    def resume_command(self) -> str:
        """The command that continues this run."""
        launcher = (f"torchrun --nproc-per-node {self.world.size} -m "
                    if self.world.size > 1 else "")
        command = [f"{launcher}ganzoo train {self.preset.name} --resume {self.run.root}"]
        if self.options.data_dir:
            command.append(f"--data-dir {self.options.data_dir}")
        if self.options.device:
            command.append(f"--device {self.options.device}")
        return " ".join(command)

    def interrupted(self, stop: GracefulStop, saved: Path) -> Interrupted:
        if not self.world.is_main:  # rank 0 says it for all
            return Interrupted("", exit_code=stop.exit_code)
        return Interrupted(f"{stop.name}: stopped after saving {saved}. Resume with: "
                           f"{self.resume_command()}", exit_code=stop.exit_code)
