"""What an objective's losses read in one update: the batch, the fakes, D's outputs, the
objective's own networks and state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import Tensor

from ..core.interfaces import Discriminator, DOutput, Generator, as_output


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


class StepContext:
    """The update an objective computes a loss for (``update`` is "d" or "g").

    ``real`` (this update's real images), ``labels`` (theirs; the labels a conditional G
    was given), ``noise`` and ``fake`` (G's images; detached in a D update) are tensors;
    ``real_out`` and ``fake_out`` are D's :class:`~ganzoo.DOutput` on them, computed on first
    use and at most once (in a D update both in one pass unless D is batch-dependent);
    ``d(x)`` is D's output for any images, differentiable in ``x``, outside autocast. With
    an ``augment``, D sees every image through it (``real`` and ``fake`` stay as they were).
    ``nets`` and ``state`` are the objective's networks and persistent tensors; ``step``
    counts the G updates before this one (a Python number: a CUDA graph captures one step,
    so a term switched on it needs eager steps); ``generator`` and ``discriminator`` are
    the bare models, for the hooks after an update.
    """

    def __init__(self, update: str, real: Tensor, labels: Tensor | None, noise: Tensor,
                 fake: Tensor, *, generator: Generator, discriminator: Discriminator,
                 call_d: Callable, d_cond: tuple,
                 autocast: Callable[[], contextlib.AbstractContextManager],
                 augment: Callable[[Tensor], Tensor] | None = None,
                 nets: Mapping[str, torch.nn.Module] | None = None,
                 state: Mapping[str, Tensor] | None = None, step: int = 0) -> None:
        self.update, self.real, self.labels, self.noise, self.fake = (update, real, labels,
                                                                      noise, fake)
        self.generator, self.discriminator = generator, discriminator
        self.nets, self.state, self.step = nets or {}, state or {}, step
        self._D, self._call_d, self._cond, self._autocast = (discriminator, call_d, d_cond,
                                                             autocast)
        self._seen = augment or (lambda x: x)  # what D sees of an image
        self._real_out: DOutput | None = None
        self._fake_out: DOutput | None = None

    def d(self, x: Tensor) -> DOutput:
        """D's output for images ``x`` (with this update's labels, for a conditional D)."""
        return as_output(self._D(self._seen(x), *self._cond)).float()

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
        D, cond, seen = self._D, self._cond, self._seen
        with self._autocast():
            if D.batch_dependent:  # its batch statistics must not mix real and fake
                self._real_out = as_output(self._call_d(seen(self.real), *cond)).float()
                self._fake_out = as_output(D(seen(self.fake), *cond)).float()
            else:
                both = tuple(torch.cat([c, c]) for c in cond)
                images = seen(torch.cat([self.real, self.fake]))
                out = as_output(self._call_d(images, *both)).float()
                self._real_out, self._fake_out = out.split(self.real.shape[0])
