"""A small image dataset held whole on the training device, batched by on-device permutation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.errors import ConfigError


class Order(NamedTuple):
    """One epoch's random order: the rows to gather (a row + N: mirrored), their labels'
    rows, and with random jitter each image's crop corner (y, x)."""

    rows: Tensor
    labels: Tensor
    corners: Tensor | None = None

    def corners_of(self, batch: slice) -> Tensor | None:
        """The crop corners (B, 2) of the images at ``batch`` (in a :func:`stacked` order,
        every member's, members first); None without jitter."""
        return None if self.corners is None else self.corners[..., batch, :].reshape(-1, 2)


class ImageBatches:
    """An epoch's batches of uint8 images (``self.images``, N first) in a random order: what
    the training loop iterates (:class:`DeviceImages`, or streamed from disk)."""

    images: Tensor | np.ndarray
    jitter: int = 0  # pixels each batch is enlarged by, then cropped back at random

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

    def _with_corners(self, rows: Tensor, label_rows: Tensor) -> Order:
        """``rows`` and ``label_rows`` as an :class:`Order`, with each image's crop corner
        drawn after them where the images are jittered (so nothing more is drawn without)."""
        if not self.jitter:
            return Order(rows, label_rows)
        corners = torch.randint(0, self.jitter + 1, (len(rows), 2), device=rows.device)
        return Order(rows, label_rows, corners)


class DeviceImages(ImageBatches):
    """uint8 images (N, C, H, W) resident on ``device``; batches are scaled to [-1, 1] there.

    Each epoch draws a fresh random permutation (from torch's global RNG, so runs are
    reproducible from the seed) and drops the last partial batch, keeping every step's
    shapes static. With ``hflip`` the mirrored images are stored too, so a random flip is
    part of the one gather that forms the batch instead of extra passes over it. With
    ``jitter`` each batch is enlarged by that many pixels and cropped back at random
    (:func:`jittered`).
    """

    def __init__(self, images: Tensor, labels: Tensor, device: torch.device, hflip: bool,
                 jitter: int = 0) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 (N, C, H, W) images, got {images.dtype} "
                             f"{tuple(images.shape)}")
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.device = device
        self.hflip, self.jitter = hflip, jitter
        # rows [0, N) as stored, rows [N, 2N) mirrored
        self._source = torch.cat([self.images, self.images.flip(-1)]) if hflip else self.images

    def order(self) -> Order:
        """One epoch's random order: rows of the stored (or mirrored) images, and of labels.

        Drawn from torch's global RNG, so restoring the RNG state at an epoch's start
        reproduces it (that is how a run resumes in the middle of an epoch).
        """
        n = len(self)
        perm = torch.randperm(n, device=self.device)
        if not self.hflip:
            return self._with_corners(perm, perm)
        flipped = torch.randint(0, 2, (n,), device=self.device)  # p = 1/2, drawn per epoch
        return self._with_corners(perm + n * flipped, perm)

    def batches(self, order: Order, batch_size: int, start: int = 0,
                rank: int = 0, world_size: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        """The batches of an epoch in ``order``, from step ``start`` on.

        With ``world_size`` > 1 each step's global batch holds ``world_size`` x
        ``batch_size`` images and this yields rank ``rank``'s slice of it: every rank draws
        the same ``order``, so the slices are disjoint and cover the epoch together.
        """
        step = batch_size * world_size
        for i in range(start, self.steps_per_epoch(step)):
            first = i * step + rank * batch_size
            batch = slice(first, first + batch_size)
            # index_select: on the CPU far cheaper than indexing with a tensor
            images = self._source.index_select(0, order.rows[batch])
            images = jittered(images, order.corners_of(batch), self.jitter)
            yield to_unit_range(images), self.labels.index_select(0, order.labels[batch])

    def stacked_batches(self, orders: list[Order], batch_size: int,
                        start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        """A population's batches: member k's batch in its own ``orders[k]``, stacked as
        ``[K, batch_size, ...]`` images and ``[K, batch_size]`` labels (one gather for all)."""
        order = stacked(orders)
        k = len(orders)
        for i in range(start, self.steps_per_epoch(batch_size)):
            batch = slice(i * batch_size, (i + 1) * batch_size)
            images = self._source.index_select(0, order.rows[:, batch].reshape(-1))
            images = jittered(images, order.corners_of(batch), self.jitter)
            labels = self.labels.index_select(0, order.labels[:, batch].reshape(-1))
            yield (to_unit_range(images).view(k, batch_size, *images.shape[1:]),
                   labels.view(k, batch_size))


def stacked(orders: list[Order]) -> Order:
    """Members' orders as one, each field ``[K, N, ...]``."""
    corners = None if orders[0].corners is None else torch.stack([o.corners for o in orders])
    return Order(torch.stack([o.rows for o in orders]),
                 torch.stack([o.labels for o in orders]), corners)


def jittered(images: Tensor, corners: Tensor | None, jitter: int) -> Tensor:
    """pix2pix's random jitter: uint8 images (B, C, H, W) enlarged (bicubic) to
    (H + jitter, W + jitter) and each cropped back to (H, W) at its corner (y, x) in
    ``corners`` (B, 2, on the images' device); without corners, the images as they are. A
    pair stacked on channels gets the same crop on both sides."""
    if corners is None:
        return images
    b, c, h, w = images.shape
    big = F.interpolate(images.float(), size=(h + jitter, w + jitter), mode="bicubic",
                        align_corners=False).clamp_(0, 255).round_().to(torch.uint8)
    ys = corners[:, :1] + torch.arange(h, device=images.device)  # (B, H)
    xs = corners[:, 1:] + torch.arange(w, device=images.device)  # (B, W)
    rows = big.gather(2, ys[:, None, :, None].expand(b, c, h, w + jitter))
    return rows.gather(3, xs[:, None, None, :].expand(b, c, h, w))


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 -> float in [-1, 1]: the tutorial's ToTensor + Normalize((0.5,), (0.5,))."""
    return images.float().mul_(2 / 255).sub_(1)
