"""What an objective's losses read in one update: the batch, the fakes, D's outputs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import Tensor

from ..core.interfaces import Discriminator, DOutput, as_output


class StepContext:
    """The update an objective computes a loss for (``update`` is "d" or "g").

    ``real`` (this update's real images), ``labels`` (theirs; the labels a conditional G
    was given), ``noise`` and ``fake`` (G's images; detached in a D update) are tensors;
    ``real_out`` and ``fake_out`` are D's :class:`~ganzoo.DOutput` on them, computed on first
    use and at most once (in a D update both in one pass unless D is batch-dependent);
    ``d(x)`` is D's output for any images, differentiable in ``x``, outside autocast. With
    an ``augment``, D sees every image through it (``real`` and ``fake`` stay as they were).
    """

    def __init__(self, update: str, real: Tensor, labels: Tensor | None, noise: Tensor,
                 fake: Tensor, discriminator: Discriminator, call_d: Callable,
                 d_cond: tuple, autocast: Callable[[], contextlib.AbstractContextManager],
                 augment: Callable[[Tensor], Tensor] | None = None) -> None:
        self.update, self.real, self.labels, self.noise, self.fake = (update, real, labels,
                                                                      noise, fake)
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
