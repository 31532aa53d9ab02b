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

from .context import Lazy, StepContext

Shape = tuple[int, int, int]


class Generator(nn.Module, abc.ABC):
    """Maps latent noise (N, z_dim) to images in [-1, 1] shaped (N, *out_shape).

    A class-conditional generator has ``num_classes > 0`` and is called ``G(z, labels)``
    with int64 labels (N,); the engine then trains it on the real batch's labels.

    One with structured latent codes in its noise (InfoGAN's) names them in ``codes``
    (name -> number of categories, 0 for a continuous code) and implements ``with_code``;
    ``ganzoo sample --sweep`` then varies one along a grid's columns.
    """

    codes: Mapping[str, int] = MappingProxyType({})
    translates = False  # True for a :class:`Translator`, fed the real batch instead of noise

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

    def with_code(self, noise: Tensor, name: str, values: Tensor) -> Tensor:
        """A copy of ``noise`` with code ``name`` set to ``values`` (one per row): a category
        index or a continuous value."""
        raise NotImplementedError(f"{type(self).__name__} has no latent codes")

    def generate(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images from ``noise``; a conditional generator draws ``labels`` (default: the
        classes in turn, 0, 1, ..., so every class gets its share)."""
        if not self.num_classes:
            return self(noise)
        if labels is None:
            labels = torch.arange(noise.shape[0], device=noise.device) % self.num_classes
        return self(noise, labels)


class Translator(Generator):
    """An image-to-image generator (pix2pix's, CycleGAN's). Its input is not noise but the
    real batch itself: pairs (N, 2C, H, W) of an image of domain A and one of domain B
    stacked on channels (:mod:`ganzoo.pairs`), and it returns pairs of the same shape --
    what D judges beside the real pairs:

    - ``directions = ("AB",)``: ``(A, G(A))``, the source beside its translation, so a
      discriminator of pairs judges (source, image) as pix2pix's conditional D does;
    - ``directions = ("AB", "BA")``: ``(G_BA(B), G_AB(A))``, each side a translation into
      that side's domain (CycleGAN); applied to its own output it gives the cycle
      ``(G_BA(G_AB(A)), G_AB(G_BA(B)))``, and to ``swap(real)`` the identity mappings.

    The engine feeds it the batch where a noise-to-image G gets noise (``ctx.noise`` is the
    batch: ``ctx.g(x)`` translates any pairs ``x``); ``z_dim`` is 0 and ``sample_noise``
    draws nothing. :meth:`translate` applies one direction to images of one domain.
    """

    directions: tuple[str, ...] = ("AB",)
    translates = True

    def __init__(self, out_shape: Shape) -> None:
        super().__init__(0, out_shape)
        channels = self.out_shape[0]
        if channels % 2:
            raise ValueError(f"a translator's images are pairs stacked on channels (2C, H, "
                             f"W); got {self.out_shape}")
        self.image_shape = (channels // 2, *self.out_shape[1:])

    def translate(self, images: Tensor, direction: str = "AB") -> Tensor:
        """Images of the source domain (N, C, H, W) in [-1, 1] translated: A to B ("AB") or
        B to A ("BA", where ``directions`` has it). The other side of each pair G is given
        is blank; override to skip translating it."""
        from .errors import ConfigError
        from .pairs import join, split

        if direction not in self.directions:
            ways = " and ".join(f"{d[0]} to {d[1]}" for d in self.directions)
            raise ConfigError(f"this generator translates {ways} only, not {direction[0]} to "
                              f"{direction[1]}")
        blank = torch.zeros_like(images)
        out = self(join(images, blank) if direction == "AB" else join(blank, images))
        a, b = split(out)
        return b if direction == "AB" else a


class Discriminator(nn.Module, abc.ABC):
    """Maps images (N, *in_shape) to raw logits shaped (N, *logits_shape) -- no sigmoid
    inside -- or to a :class:`DOutput` holding them and more (class logits, features).

    A class-conditional discriminator has ``num_classes > 0`` and is called ``D(x, labels)``;
    one that predicts classes from the image alone (ACGAN's) sets ``class_outputs`` to
    their number and returns them as ``DOutput.class_logits``.
    """

    class_outputs: int = 0
    # an image's logits: () one; (2,) one per domain (CoGAN's coupled Ds), (P, P) one per
    # patch. The built-in losses average over them.
    logits_shape: tuple[int, ...] = ()

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


class NoDiscriminator(Discriminator):
    """The discriminator of a preset whose objective judges with its own networks (AAE's D
    on latent codes, registered as ``objective-networks``): it has no weights, and D's optimiser
    trains the objective's networks on side "d". Any image shape; asked to judge an image
    (``ctx.real_out``, ``ctx.fake_out``, ``ctx.d``), it is an error naming the cause."""

    def __init__(self, in_shape: Shape | None = None) -> None:
        super().__init__(tuple(in_shape or ()))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        from .errors import ConfigError

        raise ConfigError("this preset's discriminator judges no images "
                          "(ganzoo.NoDiscriminator): its objective judges with its own "
                          "networks and cannot read D's outputs on images")


class GANLoss(abc.ABC):
    """The easy form of an objective: the two losses on D's real and fake logits (and an
    optional penalty that needs D). Anything more -- G's loss on the real logits, D's class
    logits, hooks after an update -- is an :class:`Objective`."""

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


@dataclass(frozen=True)
class Network:
    """One of an objective's own networks (InfoGAN's Q head, an encoder): ``module`` trains
    with the optimiser of ``side`` -- "d" (D's; frozen with D in G's update) or "g" (G's)."""

    side: str
    module: nn.Module

    def __post_init__(self) -> None:
        if self.side not in ("d", "g"):
            raise ValueError(f"a network's side is 'd' or 'g', got {self.side!r}")
        if not isinstance(self.module, nn.Module):
            raise TypeError(f"a network is an nn.Module, got {type(self.module).__name__}")


class Objective(abc.ABC):
    """The general form of a GAN's losses: each update's loss from the step's context.

    ``d_loss(ctx)`` and ``g_loss(ctx)`` get a :class:`~ganzoo.StepContext` (its fields are
    documented there): the update's batch, G's images, D's outputs, the objective's own
    networks and state (below) and which lazy terms are due. The engine does the rest:
    autocast, zero_grad / backward / step, fused optimisers, checkpoints, CUDA graphs, DDP.
    A loss must not read tensors back to the host.

    A population runs the losses and hooks of K members at once under ``torch.func.vmap``:
    the numbers a sweep may vary are plain number attributes set in ``__init__``, and no
    loss changes a parameter in place; where vmap cannot run the step, the members train in
    turn, said in one line (``docs/plugins.md``).

    :class:`GANLoss` is the easy form, adapted onto this one.
    """

    # terms that run only every N updates, by name: {"r1": Lazy("d", 16)}; ask ctx.due("r1")
    lazy: Mapping[str, Lazy] = MappingProxyType({})

    @abc.abstractmethod
    def d_loss(self, ctx: StepContext) -> Tensor:
        """The discriminator's loss for one D update."""

    @abc.abstractmethod
    def g_loss(self, ctx: StepContext) -> Tensor:
        """The generator's loss for one G update (D's weights are frozen in it)."""

    def networks(self, generator: Generator,
                 discriminator: Discriminator) -> dict[str, Network]:
        """The objective's own networks (InfoGAN's Q head, an encoder), built once before
        training, on the CPU, from the models: ``{name: Network(side, module)}``. The
        engine moves, checkpoints, DDP-wraps and (in a population) stacks them; a loss
        calls ``ctx.nets[name](...)``."""
        return {}

    def initial_state(self, generator: Generator,
                      discriminator: Discriminator) -> dict[str, Tensor]:
        """Tensors that persist from step to step (BEGAN's k), read as ``ctx.state[name]``
        and updated in place (``copy_``) on the device, never through a Python number: no
        host sync, and a CUDA graph replays the update. Checkpointed and resumed; in a
        distributed run the engine averages float state over the ranks after each step,
        which makes a linear update rule see the global batch. Scalars also appear in each
        epoch's record."""
        return {}

    def clusters(self, networks: Mapping[str, nn.Module], images: Tensor) -> Tensor | None:
        """For an objective whose networks assign images to clusters (ClusterGAN's
        encoder): the cluster of each image (N,), int64, from its trained ``networks`` (in
        eval mode) and float images in [-1, 1]; ``ganzoo eval`` then reports the clusters'
        purity against the test split's labels. None: it clusters nothing."""
        return None

    def after_d_update(self, ctx: StepContext) -> None:  # noqa: B027 - optional
        """Runs after each D optimiser step (e.g. WGAN's weight clipping, BEGAN's k), with
        the update's context; ``ctx.discriminator`` is D, ``ctx.real_out`` and
        ``ctx.fake_out`` still hold D's outputs from before the step."""


class LossObjective(Objective):
    """A :class:`GANLoss` as an objective: its losses on D's logits, plus its regularizer."""

    def __init__(self, loss: GANLoss) -> None:
        self.loss = loss

    def d_loss(self, ctx: StepContext) -> Tensor:
        loss = self.loss.discriminator_loss(ctx.real_out.logits, ctx.fake_out.logits)
        reg = self.loss.discriminator_regularizer(lambda x: ctx.d(x).logits, ctx.real,
                                                  ctx.fake.float())
        return loss if reg is None else loss + reg

    def g_loss(self, ctx: StepContext) -> Tensor:
        return self.loss.generator_loss(ctx.fake_out.logits)


def as_objective(loss: GANLoss | Objective) -> Objective:
    return loss if isinstance(loss, Objective) else LossObjective(loss)


class Augment(abc.ABC):
    """A random, differentiable transformation of every image D sees, real and fake, in both
    updates (DiffAugment, Zhao et al. 2020): D trains on T(x) and T(G(z)), and G's gradient
    flows through T. Takes and returns float images (N, C, H, W) in D's input range; draws
    its randomness from torch's global RNG, so runs stay reproducible and resumable."""

    @abc.abstractmethod
    def __call__(self, images: Tensor) -> Tensor: ...


class Schedule(abc.ABC):
    """A learning-rate schedule: the factor that scales a network's preset rate (``lr_g`` or
    ``lr_d``). With ``unit = "epoch"`` (the default) ``factor(t, total)`` is called at the
    start of epoch ``t`` (0-based) of ``total``; with ``unit = "step"``, before each step,
    with ``t`` the steps (G updates) done and ``total`` the run's (epochs x steps per epoch):
    a warm-up, a decay by step. A function of ``t`` alone, so a resumed run trains at the
    rate it would have had, with no state to save. Under CUDA graphs, steps run eagerly
    while a step schedule changes the rate and are captured again once it holds still."""

    unit: str = "epoch"  # or "step"

    @abc.abstractmethod
    def factor(self, t: int, total: int) -> float: ...


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


UNLABELED = -1  # the label of an image whose class a semi-supervised run may not see


class Dataset(abc.ABC):
    """An image dataset small enough to live whole on the training device."""

    name: str
    sample_shape: Shape
    num_classes: int
    evaluator: str | None = None  # the registered evaluator that scores samples of it
    # a dataset of coupled images (CoGAN's two domains side by side) names instead the
    # registered dataset whose evaluator and test split score each of its domains
    scored_by: str | None = None
    # an image-to-image dataset: each sample is a pair (A, B) stacked on channels
    # (ganzoo.pairs); ``aligned`` when B is A's own translation (pix2pix's data), not an
    # unrelated image of domain B (CycleGAN's)
    image_pairs: bool = False
    aligned: bool = False

    @abc.abstractmethod
    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        """Return ``(images, labels)``: uint8 (N, C, H, W) and int64 (N,), from ``root``."""

    def domains(self, images: Tensor) -> dict[str, Tensor]:
        """For a dataset that names ``scored_by``: float images (N, *sample_shape) in
        [-1, 1] as that dataset's images, one set per domain by name (a negative domain
        turned positive); the first is the one a run's quality is reported by."""
        raise NotImplementedError(f"dataset {self.name!r} holds one domain")


class Callback:
    """Code run at the moments of a training run; override the ones you need.

    Each moment gets the :class:`~ganzoo.engine.callbacks.Training` being run: its preset,
    run directory, device, the generator that samples show (its EMA when kept), the
    per-epoch records so far, its trained ``weights()`` and a ``say`` function that prints
    unless the run is quiet. Callbacks run in the process that writes the run directory
    (rank 0 under torchrun), in order -- a callback with ``every_rank = True`` in every
    process (per-rank statistics) -- and one that raises stops the run with one error line
    naming it; the newest checkpoint before it stays intact, so the run resumes.
    """

    every_rank = False  # True: also called in the processes other than rank 0

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
    # pix2pix's random jitter: pixels each real image (both sides of a pair alike) is
    # enlarged by before a random crop back to its size (the papers: 30 at 256 px; 0: off)
    jitter: int = 0
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
        for name in ("epochs", "eval_every", "jitter"):
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
    # registered optimizers of G and D (None: the engine's fused Adam); their learning rates
    # are lr_g and lr_d, and beta1, beta2 their betas where they take any
    optimizer_g: ComponentRef | None = None
    optimizer_d: ComponentRef | None = None
    augment: ComponentRef | None = None  # a registered Augment for what D sees (None: off)
    # registered learning-rate schedules of G and D, by epoch (None: constant rates)
    schedule_g: ComponentRef | None = None
    schedule_d: ComponentRef | None = None

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
            **{k: getattr(self, k).to_dict() for k in OPTIONAL_FIELDS if getattr(self, k)},
            "train": asdict(self.train),
            "callbacks": [ref.to_dict() for ref in self.callbacks],
        }


COMPONENT_KINDS = ("generator", "discriminator", "loss", "dataset")  # every preset names these
OPTIMIZER_FIELDS = ("optimizer_g", "optimizer_d")  # optional: the engine's Adam by default
SCHEDULE_FIELDS = ("schedule_g", "schedule_d")  # optional: constant rates by default
OPTIONAL_FIELDS = (*OPTIMIZER_FIELDS, "augment", *SCHEDULE_FIELDS)  # None when not named
COMPONENT_FIELDS = (*COMPONENT_KINDS, *OPTIONAL_FIELDS)
