"""What an objective's losses read in one update: the batch, the fakes, D's outputs, the
objective's own networks and state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .errors import ConfigError

PRECISIONS = ("fp32", "bf16")


@dataclass
class DOutput:
    """What a discriminator may return besides its real/fake logit, for an objective to read.

    A discriminator returns either the logits alone or a DOutput; the engine treats the
    first as ``DOutput(logits)``. Every field given has N rows.
    """

    logits: Tensor  # (N, *D.logits_shape) raw real/fake logits: (N,) for one per image
    class_logits: Tensor | None = None  # (N, K) class scores (ACGAN, semi-supervised GANs)
    features: Tensor | None = None  # (N, F) an embedding (feature matching, pull-away)

    def fields(self) -> dict[str, Tensor]:
        return {k: v for k, v in vars(self).items() if v is not None}

    def float(self) -> DOutput:
        """Every field as float32 (as losses are computed)."""
        return DOutput(**{k: v.float() for k, v in self.fields().items()})

    def split(self, n: int) -> tuple[DOutput, DOutput]:
        """The first ``n`` rows and the rest (D's output on real and fake in one pass)."""
        parts = {k: v.split([n, v.shape[0] - n]) for k, v in self.fields().items()}
        return (DOutput(**{k: v[0] for k, v in parts.items()}),
                DOutput(**{k: v[1] for k, v in parts.items()}))


def as_output(out: Tensor | DOutput) -> DOutput:
    """A discriminator's return value as a :class:`DOutput`."""
    return out if isinstance(out, DOutput) else DOutput(out)


@dataclass(frozen=True)
class Lazy:
    """A term of an objective's loss that runs only every ``every`` updates of ``update``
    ("d" or "g"): lazy regularisation (Mescheder et al. 2018; StyleGAN2 computes R1 every
    16 D updates and weights it by 16). The loss asks ``ctx.due(name)``; the engine knows in
    advance which steps have a term due, so a CUDA graph replays only the steps without one
    and a step with one runs eagerly."""

    update: str
    every: int

    def __post_init__(self) -> None:
        if self.update not in ("d", "g"):
            raise ValueError(f"a lazy term's update is 'd' or 'g', got {self.update!r}")
        if not (isinstance(self.every, int) and self.every >= 1):
            raise ValueError(f"a lazy term runs every N >= 1 updates, got {self.every!r}")

    def due(self, index: int) -> bool:
        """Whether the term runs in the update with this index (0-based, of its kind)."""
        return index % self.every == 0




class Networks(Mapping):
    """The objective's networks by name. In the update that trains a network, the first one
    fetched goes through its DDP wrapper in a distributed run (which reduces its gradients;
    DDP allows one forward per backward), later ones and other updates get the module."""

    def __init__(self, modules: Mapping[str, torch.nn.Module],
                 wrapped: Mapping[str, torch.nn.Module], trained: set[str]) -> None:
        self._modules, self._wrapped, self._trained = modules, wrapped, set(trained)

    def __getitem__(self, name: str) -> torch.nn.Module:
        if name in self._trained and name in self._wrapped:
            self._trained.discard(name)
            return self._wrapped[name]
        return self._modules[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: choose from {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward passes' autocast: bfloat16 under ``precision="bf16"`` (losses, weights and
    optimiser state stay float32), none under "fp32"."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Batch:
    """One update's tensors: the real images, their labels (or None), the noise and G's
    images of it (detached in a D update)."""

    real: Tensor
    labels: Tensor | None
    noise: Tensor
    fake: Tensor


@dataclass(frozen=True)
class Models:
    """What an update's losses run: D and ``call_d`` (what D's first pass in a D update
    goes through: D, or its DDP wrapper), what D sees every image through (an augment, or
    None), the precision of the forward passes and G (for ``ctx.g``)."""

    discriminator: torch.nn.Module
    call_d: Callable
    augment: Callable[[Tensor], Tensor] | None = None
    precision: str = "fp32"
    generator: torch.nn.Module | None = None


@dataclass(frozen=True)
class Updates:
    """Where an update stands: the G and D updates done before it, and the objective's lazy
    terms (which of them are due here)."""

    g: int = 0
    d: int = 0
    lazy: Mapping[str, Lazy] = field(default_factory=dict)


class StepContext:
    """What an objective's loss reads in one update (``ganzoo.StepContext``). Its fields:

    - ``update``: "d" or "g", the update this loss is for.
    - ``real``, ``labels``: this update's real images and their labels (None for an
      unlabelled dataset); a conditional G was given the same labels.
    - ``noise``, ``fake``: G's input (a :class:`~ganzoo.Translator`'s: the batch itself)
      and its images (detached in a D update).
    - ``real_out``, ``fake_out``: D's :class:`~ganzoo.DOutput` on them, computed on first
      use and at most once (in a D update both in one pass unless D is batch-dependent).
      With an augment, D sees every image through it (``real`` and ``fake`` stay as they
      were).
    - ``d(x)``: D's output for any images, differentiable in ``x``, outside autocast (for
      penalties). D's first pass in a D update, by whichever field, goes through DDP.
    - ``g(noise, labels=None)``: G's images for any noise (an autoencoder's codes: AAE), in
      the update's precision as float32, differentiable in ``noise`` and, in G's update, in
      G's weights; a conditional G gets ``labels`` (default: this update's).
    - ``nets``: the objective's networks by name; ``state``: its persistent tensors.
    - ``g_updates``, ``d_updates``: the G and D updates done before this one. Python
      numbers: a CUDA graph replays one captured step, so branch on them only through
      ``due``, which the engine plans for.
    - ``due(name)``: whether the objective's lazy term ``name`` runs in this update.
    - ``discriminator``: the bare D, for ``after_d_update`` (WGAN's clipping).
    - ``computed()``: D's outputs computed so far (the engine's: a population's hook after
      an update is given those its loss saw, as ``outputs``).
    """

    def __init__(self, update: str, batch: Batch, models: Models, *,
                 nets: Mapping[str, torch.nn.Module] | None = None,
                 state: Mapping[str, Tensor] | None = None, updates: Updates = Updates(),
                 outputs: tuple[DOutput | None, DOutput | None] = (None, None)) -> None:
        self.update, self.real, self.labels = update, batch.real, batch.labels
        self.noise, self.fake = batch.noise, batch.fake
        self.discriminator, self._G = models.discriminator, models.generator
        self.nets, self.state = nets or {}, state or {}
        self.g_updates, self.d_updates, self._lazy = updates.g, updates.d, updates.lazy
        self._D, self._call_d, self._precision = (models.discriminator, models.call_d,
                                                  models.precision)
        self._cond = (batch.labels,) if models.discriminator.num_classes else ()
        self._seen = models.augment or (lambda x: x)  # what D sees of an image
        self._real_out, self._fake_out = outputs
        self._judged = False  # whether D has run in this update (DDP: once through call_d)

    def due(self, term: str) -> bool:
        """Whether the objective's lazy term ``term`` runs in this update."""
        lazy = self._lazy.get(term)
        if lazy is None or lazy.update != self.update:
            where = ("no such lazy term" if lazy is None
                     else f"a term of the {lazy.update.upper()} update")
            raise ConfigError(f"ctx.due({term!r}) in a {self.update.upper()} update: {where}; "
                              "declare it in the objective's lazy = {name: ganzoo.Lazy(update, "
                              "every)}")
        return lazy.due(self.d_updates if self.update == "d" else self.g_updates)

    def computed(self) -> tuple[DOutput | None, DOutput | None]:
        """D's outputs on ``real`` and ``fake`` computed so far (None: not asked for)."""
        return self._real_out, self._fake_out

    def _autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self._precision, self.real.device)

    def d(self, x: Tensor) -> DOutput:
        """D's output for images ``x`` (with this update's labels, for a conditional D,
        repeated for k x N images)."""
        cond = tuple(c.repeat(len(x) // len(c)) for c in self._cond)
        return as_output(self._judge()(self._seen(x), *cond)).float()

    def _judge(self) -> Callable:
        """What D's next pass goes through: ``call_d`` (the DDP wrapper, in a distributed
        run) for the first pass of a D update, however a loss asks for it; D after."""
        first = self.update == "d" and not self._judged
        self._judged = True
        return self._call_d if first else self._D

    def g(self, noise: Tensor, labels: Tensor | None = None) -> Tensor:
        """G's images for ``noise`` (with ``labels``, default this update's, for a
        conditional G)."""
        G = self._G
        if G is None:
            raise ConfigError("ctx.g: this context was built without the generator")
        cond = ((self.labels if labels is None else labels),) if G.num_classes else ()
        with self._autocast():
            return G(noise, *cond).float()

    @property
    def real_out(self) -> DOutput:
        if self._real_out is None:
            self._outputs(real=True)
        return self._real_out

    @property
    def fake_out(self) -> DOutput:
        if self._fake_out is None:
            self._outputs(real=False)
        return self._fake_out

    def _outputs(self, real: bool) -> None:
        if self.update == "d":  # both, as D's update uses both
            self._both()
            return
        with self._autocast():  # D is frozen in G's update: the bare module, one batch
            out = as_output(self._D(self._seen(self.real if real else self.fake),
                                    *self._cond)).float()
        if real:
            self._real_out = out
        else:
            self._fake_out = out

    def _both(self) -> None:
        """D on real and fake in a D update: the first pass goes through ``call_d`` (the
        DDP wrapper in a distributed run)."""
        D, cond, seen, first = self._D, self._cond, self._seen, self._judge()
        with self._autocast():
            if D.batch_dependent:  # its batch statistics must not mix real and fake
                self._real_out = as_output(first(seen(self.real), *cond)).float()
                self._fake_out = as_output(D(seen(self.fake), *cond)).float()
            else:
                both = tuple(torch.cat([c, c]) for c in cond)
                images = seen(torch.cat([self.real, self.fake]))
                out = as_output(first(images, *both)).float()
                self._real_out, self._fake_out = out.split(self.real.shape[0])
