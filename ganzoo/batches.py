"""A small image dataset held whole on the training device, batched by on-device permutation."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from .errors import ConfigError


class DeviceImages:
    """uint8 images (N, C, H, W) resident on ``device``; batches are scaled to [-1, 1] there.

    Each epoch draws a fresh random permutation (from torch's global RNG, so runs are
    reproducible from the seed) and drops the last partial batch, keeping every step's
    shapes static.
    """

    def __init__(self, images: Tensor, labels: Tensor, device: torch.device, hflip: bool) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"expected uint8 (N, C, H, W) images, got {images.dtype} "
                             f"{tuple(images.shape)}")
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.device = device
        self.hflip = hflip

    def __len__(self) -> int:
        return self.images.shape[0]

    def steps_per_epoch(self, batch_size: int) -> int:
        steps = len(self) // batch_size
        if steps == 0:
            raise ConfigError(f"batch size {batch_size} is larger than the dataset "
                              f"({len(self)} images)")
        return steps

    def epoch(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        perm = torch.randperm(len(self), device=self.device)
        for i in range(self.steps_per_epoch(batch_size)):
            index = perm[i * batch_size:(i + 1) * batch_size]
            yield self.prepare(self.images[index]), self.labels[index]

    def prepare(self, images: Tensor) -> Tensor:
        """uint8 -> float in [-1, 1] (ToTensor + Normalize(0.5, 0.5)), flipped at random."""
        x = images.float().mul_(2 / 255).sub_(1)
        if self.hflip:
            flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
            x = torch.where(flip, x.flip(-1), x)
        return x
