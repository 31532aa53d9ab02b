"""DiffAugment (Zhao et al. 2020): random colour, translation and cutout, differentiable in
the images, applied to every image D sees. Each image draws its own parameters; images are
in [-1, 1]."""

from __future__ import annotations

import torch
from torch import Tensor

from ganzoo import Augment

POLICIES = ("color", "translation", "cutout")


def _per_image(x: Tensor) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def color(x: Tensor) -> Tensor:
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5] (the paper's ranges)."""
    x = x + (_per_image(x) - 0.5)
    mean = x.mean(1, keepdim=True)  # over channels: a grey image keeps its saturation
    x = (x - mean) * (_per_image(x) * 2) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x) + 0.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to ``ratio`` of its size in each direction, zero-padded."""
    n, c, h, w = x.shape
    reach_y, reach_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-reach_y, reach_y + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-reach_x, reach_x + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy  # the source of each pixel
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w)
    moved = x.flatten(2).gather(2, index.expand(n, c, h * w)).view(n, c, h, w)
    return moved * inside.unsqueeze(1)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a square of ``ratio`` of the image's size at a random place in each image."""
    n, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - size_y % 2), (n, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, w + (1 - size_x % 2), (n, 1, 1), device=x.device) - size_x // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~hole).unsqueeze(1).to(x.dtype)


class DiffAugment(Augment):
    """The policies named, in order: ``"color,translation,cutout"`` (the paper's)."""

    def __init__(self, policy: str = "color,translation,cutout", translation: float = 0.125,
                 cutout: float = 0.5) -> None:
        self.policy = [p.strip() for p in policy.split(",") if p.strip()]
        unknown = [p for p in self.policy if p not in POLICIES]
        if unknown or not self.policy:
            raise ValueError(f"policy: choose from {', '.join(POLICIES)}; got {policy!r}")
        if not (0 < translation <= 1 and 0 < cutout <= 1):
            raise ValueError(f"ratios must be in (0, 1], got translation={translation}, "
                             f"cutout={cutout}")
        self.translation, self.cutout = float(translation), float(cutout)

    def __call__(self, images: Tensor) -> Tensor:
        for name in self.policy:
            if name == "color":
                images = color(images)
            elif name == "translation":
                images = translation(images, self.translation)
            else:
                images = cutout(images, self.cutout)
        return images
