"""What callbacks see of a run, how the loop calls them, and the built-in ones that keep the
run directory's records, sample grids and loss plot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..core import pairs
from ..core.errors import CallbackError, GanzooError
from ..core.interfaces import Callback, Dataset, Generator, Preset
from .batches import to_unit_range
from .images import save_grid, save_loss_plot
from .rundir import RunDir

N_FIXED = 64  # samples in each fixed-noise grid, as in the tutorial (BS fixed noise vectors)


@dataclass
class Training:
    """The run a callback is called from."""

    preset: Preset
    run_dir: RunDir
    device: torch.device
    generator: Generator  # what grids and scores show: the EMA of G's weights when kept
    dataset: Dataset
    data_root: Path
    real_images: torch.Tensor  # uint8, the first training images (for the real-sample grid)
    fixed_noise: torch.Tensor  # the noise of every sample grid of the run
    start_epoch: int  # 0, or the epoch a resumed run continues from
    resumed: bool  # continues a run from one of its checkpoints
    history: list[dict[str, Any]] = field(default_factory=list)  # records, oldest first
    say: Callable[[str], None] = print
    # this run's trained tensors now (a population member's own), by their checkpoint names:
    # generator.*, discriminator.*, generator_ema.*, objective.<network>.*, objective_state.*
    weights: Callable[[], dict[str, torch.Tensor]] = dict

    @property
    def root(self) -> Path:
        return self.run_dir.root

    def is_last(self, epoch: int) -> bool:
        return epoch == self.preset.train.epochs - 1


class Callbacks:
    """Calls each callback in turn; one that raises is named in a :class:`CallbackError`."""

    def __init__(self, callbacks: Sequence[Callback], training: Training,
                 on_failure: Callable[[], str]) -> None:
        self.callbacks, self.training, self.on_failure = list(callbacks), training, on_failure

    def _call(self, moment: str, *args: Any, epoch: int | None = None) -> None:
        for callback in self.callbacks:
            try:
                getattr(callback, moment)(self.training, *args)
            except Exception as exc:
                name = getattr(callback, "name", type(callback).__name__)
                when = f"{moment}" + (f" of epoch {epoch}" if epoch is not None else "")
                detail = exc.message if isinstance(exc, GanzooError) else (
                    f"{type(exc).__name__}: {exc}")
                raise CallbackError(f"callback {name} failed in {when}: {detail}. "
                                    f"{self.on_failure()}") from exc

    def train_start(self) -> None:
        self._call("on_train_start")

    def epoch_end(self, record: dict[str, Any]) -> None:
        self._call("on_epoch_end", record, epoch=record["epoch"])

    def checkpoint_saved(self, path: Path, epoch: int) -> None:
        self._call("on_checkpoint_saved", path, epoch=epoch)

    def train_end(self) -> None:
        self._call("on_train_end")


def sample_epoch(training: Training, epoch: int) -> bool:
    """Whether ``epoch`` gets a sample grid: every ``sample_every`` epochs and the last."""
    return epoch % training.preset.train.sample_every == 0 or training.is_last(epoch)


class MetricsFile(Callback):
    """Appends each epoch's record to ``metrics.jsonl``."""

    name = "metrics-file"

    def on_epoch_end(self, training: Training, record: dict[str, Any]) -> None:
        training.run_dir.append_record(record)


class SampleGrids(Callback):
    """``samples/real.png`` at the start of a new run, then a grid from the run's fixed noise
    every ``sample_every`` epochs and after the last (``samples/epoch-NNNN.png``)."""

    name = "sample-grids"

    def on_train_start(self, training: Training) -> None:
        if not training.resumed:
            real = to_unit_range(training.real_images[:N_FIXED])
            if training.dataset.image_pairs:  # A beside B
                real = pairs.side_by_side(*pairs.split(real))
            save_grid(real, training.run_dir.samples / "real.png")

    def on_epoch_end(self, training: Training, record: dict[str, Any]) -> None:
        epoch = record["epoch"]
        if sample_epoch(training, epoch):
            save_samples(training.generator, training.fixed_noise,
                         training.run_dir.samples / f"epoch-{epoch:04d}.png")


class LossPlot(Callback):
    """``loss.png``: losses (and quality, when measured) per epoch, redrawn with the sample
    grids once there are two epochs, and after the last."""

    name = "loss-plot"

    def on_epoch_end(self, training: Training, record: dict[str, Any]) -> None:
        last = training.is_last(record["epoch"])
        if sample_epoch(training, record["epoch"]) and (len(training.history) > 1 or last):
            save_loss_plot(training.history, training.root / "loss.png", training.preset.name)


def standard_callbacks() -> list[Callback]:
    """What every run writes: its records, sample grids and loss plot."""
    return [MetricsFile(), SampleGrids(), LossPlot()]


def fixed_noise(generator: Generator, seed: int, images: torch.Tensor) -> torch.Tensor:
    """The same noise for every grid of a run, drawn without touching the training RNG.
    A conditional generator gets whole rows of its classes in turn; a translator, the
    first training ``images`` (uint8 pairs), its input."""
    if generator.translates:
        return to_unit_range(images[:N_FIXED])
    classes = generator.num_classes
    n = classes * max(1, N_FIXED // classes) if classes else N_FIXED
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        return generator.sample_noise(n, "cpu")


@torch.no_grad()
def save_samples(generator: Generator, noise: torch.Tensor, path: Path) -> None:
    was_training = generator.training
    generator.eval()
    if generator.translates:  # source, translation, target: a row each
        save_grid(pairs.rows(noise, generator(noise), generator.directions), path, nrow=4)
    else:
        save_grid(generator.generate(noise), path, nrow=generator.num_classes or 8)
    generator.train(was_training)
