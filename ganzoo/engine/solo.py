"""What the loop trains in a single run: one preset's models in one step, drawing from
torch's global RNG, in one run directory; under torchrun, this process's share of each batch.
The population's counterpart is :class:`~ganzoo.engine.members.Members`."""

from __future__ import annotations

import math

import torch

from ..core.build import build
from ..core.errors import Diverged, TrainingError
from ..core.interfaces import Preset
from . import checkpoint, distributed
from .options import RunOptions
from .rng import GlobalRNG
from .rundir import RunDir
from .step import CudaGraphStep, TrainStep


class Solo:
    """One model: built as ``ganzoo train`` builds it (seeded, then the step), replayed as
    one CUDA graph where it can be."""

    def __init__(self, preset: Preset, options: RunOptions, device: torch.device,
                 world: distributed.World) -> None:
        settings = preset.train
        self.preset, self.presets, self.world = preset, [preset], world
        torch.manual_seed(settings.seed)  # models and optimisers, in the order that seeds them
        parts = build(preset).to(device)
        self.dataset = parts.dataset
        graphs = options.cuda_graphs and device.type == "cuda" and world.size == 1
        self.step = TrainStep(parts, preset, precision=options.precision, capturable=graphs)
        self.replay = CudaGraphStep(self.step) if graphs else self.step
        self.rng = GlobalRNG()
        self.per_rank = settings.batch_size * settings.n_critic
        self.batch = self.per_rank * world.size  # the global batch: images per step
        self.loss_shape = (2,)  # [loss_d, loss_g]

    def restore(self, resumed: checkpoint.Checkpoint) -> None:
        self.step.restore(resumed)

    def weights(self, member: int = 0) -> dict[str, torch.Tensor]:
        """The trained tensors by their checkpoint names (on the CPU)."""
        return checkpoint.model_tensors(self.step.checkpointed())

    def start(self, device: torch.device) -> None:
        """Once the weights are final (after a resume): DDP starts every rank from rank 0's."""
        if self.world.size > 1:
            self.step.distribute(lambda module: distributed.wrap(module, device), self.world.size)

    def open_runs(self, root: RunDir, resumed: checkpoint.Checkpoint | None,
                  env: dict) -> list[tuple[RunDir, list[dict]]]:
        """The run directory (rank 0 writes it) and the records kept from before."""
        history = []
        if self.world.is_main:
            if resumed is None:  # another rank fails at once in DDP's first broadcast
                root.start(self.preset)
            else:
                history = root.reopen(self.preset, resumed.path, resumed.epoch,
                                      self.preset.train.keep_checkpoints)
            root.record_environment(env)
        return [(root, history)]

    def shown(self) -> list[torch.nn.Module]:
        """What the grids and scores show: the EMA of G's weights when kept."""
        return [self.step.generator if self.step.ema is None else self.step.ema]

    def sync_shown(self) -> None:
        """Nothing to copy: the shown generator is the live one."""

    def batches(self, data, orders, start: int):
        return data.batches(orders, self.per_rank, start, self.world.rank, self.world.size)

    def noise(self, device: torch.device) -> torch.Tensor:
        # noise for the global batch, of which this rank takes its rows: every rank's RNG
        # stays in step, and N ranks train on what one process with N batches would
        mine = slice(self.world.rank * self.per_rank, (self.world.rank + 1) * self.per_rank)
        return self.step.generator.sample_noise(self.batch, device)[mine]

    def start_step(self, resumed: checkpoint.Checkpoint) -> int:
        """The step a mid-epoch checkpoint continues at: a run saved with another number of
        processes continues at the same image."""
        return resumed.step * resumed.world_size // self.world.size

    def check_losses(self, losses: torch.Tensor, total: torch.Tensor, epoch: int, i: int,
                     last_good) -> str:
        """The only host sync, every log_every steps (the mean over ranks in DDP); a
        non-finite loss stops the run. Returns the progress bar's text."""
        loss_d, loss_g = distributed.mean_over_ranks(losses, self.world).tolist()
        if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
            raise Diverged(f"training diverged at epoch {epoch}, step {i}: loss D {loss_d}, "
                           f"loss G {loss_g}. Last good checkpoint: {last_good()}")
        return f"loss D {loss_d:.3f} G {loss_g:.3f}"

    def check_weights(self, epoch: int, step: int, last_good) -> None:
        """Non-finite weights are never saved: the run stops (or rolls back) instead."""
        s = self.step
        for name, module in (("generator", s.generator), ("discriminator", s.discriminator),
                             *s.networks.items()):
            if not all(torch.isfinite(p).all() for p in module.parameters()):
                raise Diverged(f"the {name}'s weights became NaN or infinite by epoch {epoch}, "
                               f"step {step}; not saving them. Last good checkpoint: "
                               f"{last_good()}")

    def mean_over_ranks(self, total: torch.Tensor) -> torch.Tensor:
        return distributed.mean_over_ranks(total, self.world)

    def records(self, record: dict, means: torch.Tensor) -> list[dict]:
        """The epoch's record: ``record`` (what every run's holds) with the losses, the
        objective's scalar state and the scheduled learning rates."""
        s = self.step
        loss_d, loss_g = means.tolist()
        return [{**record, "loss_d": loss_d, "loss_g": loss_g,
                 **{f"state_{name}": value.item() for name, value in s.state.items()
                    if value.numel() == 1},
                 **{f"lr_{side}": s.optimizer(side).param_groups[0]["lr"]
                    for side in s.schedules}}]

    def summary(self, epoch: int, records: list[dict]) -> str:
        r = records[0]
        return (f"Epoch [{epoch}/{self.preset.train.epochs}] Loss D: {r['loss_d']:.4f}, "
                f"loss G: {r['loss_g']:.4f} | {r['samples_per_s']:,.0f} samples/s")

    def checkpoint_extras(self) -> tuple[dict, dict]:
        return {}, {}

    def export(self, runs: list[RunDir], epoch: int) -> None:
        """``generator.safetensors``: the generator (and its EMA) alone."""
        run = runs[0]
        try:
            checkpoint.export_generator(run.generator, preset=self.preset, epoch=epoch,
                                        generator=self.step.generator, ema=self.step.ema)
        except OSError as exc:
            raise TrainingError(f"could not write {run.generator}: {exc.strerror or exc}; the "
                                f"training checkpoints in {run.checkpoints} hold the generator "
                                "too") from None

    def farewell(self) -> str | None:
        """Nothing to add after training."""
        return None

    def describe(self, steps: int, device: torch.device) -> str:
        settings = self.preset.train
        critic = f", {settings.n_critic} D updates per G update" if settings.n_critic > 1 else ""
        ranks = f" x {self.world.size} processes" if self.world.size > 1 else ""
        return (f"Training {self.preset.name} on {device}{ranks} for {settings.epochs} epochs "
                f"({steps} steps of {self.batch} images{critic})")
