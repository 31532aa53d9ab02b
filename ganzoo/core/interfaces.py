"""The contracts every plugin fulfils: models, losses, datasets, callbacks and presets.

The engine only ever talks to these types; it never names a concrete model.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

Shape = tuple[int, int, int]


class Generator(nn.Module, abc.ABC):
    """Maps latent noise (N, z_dim) to images in [-1, 1] shaped (N, *out_shape).

    A class-conditional generator has ``num_classes > 0`` and is called ``G(z, labels)``
    with int64 labels (N,); the engine then trains it on the real batch's labels.
    """

    def __init__(self, z_dim: int, out_shape: Shape, num_classes: int = 0) -> None:
        super().__init__()
        self.z_dim = int(z_dim)
        self.out_shape = tuple(int(s) for s in out_shape)
        self.num_classes = int(num_classes)

    @abc.abstractmethod
    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor: ...

    def sample_noise(self, n: int, device: torch.device | str | None = None) -> Tensor:
        """Latent noise for ``n`` samples; override for a prior other than N(0, I)."""
        return torch.randn(n, self.z_dim, device=device)

    def generate(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images from ``noise``; a conditional generator draws ``labels`` (default: the
        classes in turn, 0, 1, ..., so every class gets its share)."""
        if not self.num_classes:
            return self(noise)
        if labels is None:
            labels = torch.arange(noise.shape[0], device=noise.device) % self.num_classes
        return self(noise, labels)


class Discriminator(nn.Module, abc.ABC):
    """Maps images (N, *in_shape) to raw logits shaped (N,) -- no sigmoid inside.

    A class-conditional discriminator has ``num_classes > 0`` and is called ``D(x, labels)``.
    """

    # True when one image's logit depends on the rest of its batch (batch norm in training
    # mode): the engine then shows D real and fake images in separate batches, as the DCGAN
    # paper does, instead of in one forward pass whose statistics would mix them.
    batch_dependent: bool = False

    def __init__(self, in_shape: Shape, num_classes: int = 0) -> None:
        super().__init__()
        self.in_shape = tuple(int(s) for s in in_shape)
        self.num_classes = int(num_classes)

    @abc.abstractmethod
    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor: ...


class GANLoss(abc.ABC):
    """The adversarial objective, expressed on discriminator logits."""

    @abc.abstractmethod
    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def generator_loss(self, fake_logits: Tensor) -> Tensor: ...

    def discriminator_regularizer(
        self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor
    ) -> Tensor | None:
        """An extra term of D's loss that needs D itself (e.g. a gradient penalty).

        ``critic(x)`` returns D's logits (N,) for images ``x`` -- with the batch's labels,
        for a conditional D -- and is differentiable in ``x``; ``real`` and ``fake`` are
        the D step's images (fake detached). Computed in float32, outside autocast.
        """
        return None


class Evaluator(nn.Module, abc.ABC):
    """A classifier of one dataset's images; its features and class scores rate samples.

    Takes float images in [-1, 1] shaped (N, *in_shape), like a generator's output. ganzoo
    trains it itself on the dataset's training split with the recipe in the class attributes
    (Adam, one-cycle schedule peaking at ``lr``) and caches the weights in the data root.
    """

    epochs: int = 2
    batch_size: int = 128
    lr: float = 3e-3

    def __init__(self, in_shape: Shape, num_classes: int) -> None:
        super().__init__()
        self.in_shape = tuple(int(s) for s in in_shape)
        self.num_classes = int(num_classes)

    @abc.abstractmethod
    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (N, F): what the Frechet distance compares."""

    @abc.abstractmethod
    def classify(self, features: Tensor) -> Tensor:
        """Class logits (N, num_classes) from :meth:`features`."""

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.features(x))


class Dataset(abc.ABC):
    """An image dataset small enough to live whole on the training device."""

    name: str
    sample_shape: Shape
    num_classes: int
    evaluator: str | None = None  # the registered evaluator that scores samples of it

    @abc.abstractmethod
    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        """Return ``(images, labels)``: uint8 (N, C, H, W) and int64 (N,), from ``root``."""


class Callback:
    """Code run at the moments of a training run; override the ones you need.

    Each moment gets the :class:`~ganzoo.engine.callbacks.Training` being run: its preset,
    run directory, device, the generator that samples show (its EMA when kept), the
    per-epoch records so far and a ``say`` function that prints unless the run is quiet.
    Callbacks run in the process that writes the run directory (rank 0 under torchrun),
    in order; one that raises stops the run with one error line naming it, and the newest
    checkpoint before it stays intact, so the run resumes.
    """

    def on_train_start(self, training: Any) -> None:
        """Before the first step (of this process: also when a run resumes)."""

    def on_epoch_end(self, training: Any, record: dict[str, Any]) -> None:
        """After an epoch, before its checkpoint; ``record`` is its metrics line
        (epoch, steps, loss_d, loss_g, samples_per_s, time_s), which a callback may add to."""

    def on_checkpoint_saved(self, training: Any, path: Path) -> None:
        """After a checkpoint at an epoch's end was written to ``path``."""

    def on_train_end(self, training: Any) -> None:
        """After the last epoch and the generator export."""


def _frozen(kwargs: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(kwargs or {}))


@dataclass(frozen=True)
class ComponentRef:
    """A registered component by name, with the keyword arguments for its factory."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", _frozen(self.kwargs))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": dict(self.kwargs)}


@dataclass(frozen=True)
class TrainSettings:
    """How a preset trains. Every field can be overridden with ``--set key=value``."""

    batch_size: int = 64
    epochs: int = 101
    lr_g: float = 3e-4
    lr_d: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.999
    hflip: bool = False  # random horizontal flips of real images
    sample_every: int = 50  # epochs between sample grids (the last epoch always gets one)
    seed: int = 0
    log_every: int = 50  # steps between reading losses back from the device
    keep_checkpoints: int = 3
    eval_every: int = 0  # epochs between quality measurements (0: never; see ganzoo eval)
    n_critic: int = 1  # D updates per G update; each on its own batch (WGAN-GP uses 5)
    ema: float = 0.0  # decay of an exponential moving average of G's weights (0: off)

    def __post_init__(self) -> None:
        from .errors import ConfigError

        positive = ("batch_size", "lr_g", "lr_d", "sample_every", "log_every", "keep_checkpoints",
                    "n_critic")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("epochs", "eval_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("beta1", "beta2", "ema"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class Preset:
    """Frozen data naming the components to combine and how to train them."""

    name: str
    summary: str
    generator: ComponentRef
    discriminator: ComponentRef
    loss: ComponentRef
    dataset: ComponentRef
    train: TrainSettings = field(default_factory=TrainSettings)
    callbacks: tuple[ComponentRef, ...] = ()  # registered callbacks to run, in order

    def __post_init__(self) -> None:
        object.__setattr__(self, "callbacks", tuple(self.callbacks))

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "name": self.name,
            "summary": self.summary,
            "generator": self.generator.to_dict(),
            "discriminator": self.discriminator.to_dict(),
            "loss": self.loss.to_dict(),
            "dataset": self.dataset.to_dict(),
            "train": asdict(self.train),
            "callbacks": [ref.to_dict() for ref in self.callbacks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preset:
        refs = {k: ComponentRef(data[k]["name"], data[k].get("kwargs", {}))
                for k in COMPONENT_KINDS}
        return cls(
            name=data["name"],
            summary=data.get("summary", ""),
            train=TrainSettings(**data.get("train", {})),
            callbacks=tuple(ComponentRef(c["name"], c.get("kwargs", {}))
                            for c in data.get("callbacks", ())),
            **refs,
        )


COMPONENT_KINDS = ("generator", "discriminator", "loss", "dataset")
