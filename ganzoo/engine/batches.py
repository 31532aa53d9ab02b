"""A small image dataset held whole on the training device, batched by on-device permutation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from ..core.errors import ConfigError


class ImageBatches:
    """An epoch's batches of uint8 images (``self.images``, N first) in a random order: what
    the training loop iterates (:class:`DeviceImages`, or streamed from disk)."""

    images: Tensor | np.ndarray

    def __len__(self) -> int:
        return self.images.shape[0]

    def steps_per_epoch(self, batch_size: int) -> int:
        steps = len(self) // batch_size
        if steps == 0:
            raise ConfigError(f"batch size {batch_size} is larger than the dataset "
                              f"({len(self)} images)")
        return steps

    def epoch(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        """A fresh random order's batches."""
        return self.batches(self.order(), batch_size)


class DeviceImages(ImageBatches):
    """uint8 images (N, C, H, W) resident on ``device``; batches are scaled to [-1, 1] there.

    Each epoch draws a fresh random permutation (from torch's global RNG, so runs are
    reproducible from the seed) and drops the last partial batch, keeping every step's
    shapes static. With ``hflip`` the mirrored images are stored too, so a random flip is
    part of the one gather that forms the batch instead of extra passes over it.
    """

    def __init__(self, images: Tensor, labels: Tensor, device: torch.device, hflip: bool) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 (N, C, H, W) images, got {images.dtype} "
                             f"{tuple(images.shape)}")
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.device = device
        self.hflip = hflip
        # rows [0, N) as stored, rows [N, 2N) mirrored
        self._source = torch.cat([self.images, self.images.flip(-1)]) if hflip else self.images

    def order(self) -> tuple[Tensor, Tensor]:
        """One epoch's random order: rows of the stored (or mirrored) images, and of labels.

        Drawn from torch's global RNG, so restoring the RNG state at an epoch's start
        reproduces it (that is how a run resumes in the middle of an epoch).
        """
        n = len(self)
        perm = torch.randperm(n, device=self.device)
        if not self.hflip:
            return perm, perm
        flipped = torch.randint(0, 2, (n,), device=self.device)  # p = 1/2, drawn per epoch
        return perm + n * flipped, perm

    def batches(self, order: tuple[Tensor, Tensor], batch_size: int, start: int = 0,
                rank: int = 0, world_size: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches of an epoch in ``order``, from step ``start`` on.

        With ``world_size`` > 1 each step's global batch holds ``world_size`` x
        ``batch_size`` images and this yields rank ``rank``'s slice of it: every rank draws
        the same ``order``, so the slices are disjoint and cover the epoch together.
        """
        source_rows, label_rows = order
        step = batch_size * world_size
        for i in range(start, self.steps_per_epoch(step)):
            first = i * step + rank * batch_size
            batch = slice(first, first + batch_size)
            # index_select: on the CPU far cheaper than indexing with a tensor
            images = self._source.index_select(0, source_rows[batch])
            yield to_unit_range(images), self.labels.index_select(0, label_rows[batch])

    def stacked_batches(self, orders: list[tuple[Tensor, Tensor]], batch_size: int,
                        start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """A population's batches: member k's batch in its own ``orders[k]``, stacked as
        ``[K, batch_size, ...]`` images and ``[K, batch_size]`` labels (one gather for all)."""
        source_rows = torch.stack([rows for rows, _ in orders])
        label_rows = torch.stack([rows for _, rows in orders])
        k = len(orders)
        for i in range(start, self.steps_per_epoch(batch_size)):
            batch = slice(i * batch_size, (i + 1) * batch_size)
            images = self._source.index_select(0, source_rows[:, batch].reshape(-1))
            labels = self.labels.index_select(0, label_rows[:, batch].reshape(-1))
            yield (to_unit_range(images).view(k, batch_size, *images.shape[1:]),
                   labels.view(k, batch_size))


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 -> float in [-1, 1]: the tutorial's ToTensor + Normalize((0.5,), (0.5,))."""
    return images.float().mul_(2 / 255).sub_(1)
