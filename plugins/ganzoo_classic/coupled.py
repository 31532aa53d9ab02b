"""Coupled GANs (CoGAN, Liu & Tuzel 2016): one G and one D per domain, with shared weights,
learn a joint distribution of two domains from unpaired samples of each.

A coupled image holds the two domains side by side (C, H, 2W): the left half from domain
one, the right from domain two. The coupled G draws both halves from one noise vector, its
first layers shared (they decode the semantics both domains have in common) and its last
layer per domain; the coupled D judges each half apart, its first layer per domain and the
rest shared, and returns one logit per domain (N, 2), which the GAN loss averages. The
dataset pairs each digit with an unrelated one's restyle, so nothing but the shared weights
can teach G that a pair shows one digit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from ganzoo_vanilla.mnist import MNIST
from torch import Tensor, nn

from ganzoo import Dataset, Discriminator, Generator

from .models import dcgan_init

PAIRING_SEED = 0  # which digit's restyle sits beside each digit: fixed, the same every run


class CoupledGenerator(Generator):
    """z -> Linear -> (128, s, s) + BN + ReLU -> ConvT(4, stride 2) + BN + ReLU (shared)
    -> per domain ConvT(4, stride 2) -> tanh; the two images side by side."""

    def __init__(self, z_dim: int = 100, out_shape: Sequence[int] = (1, 28, 56),
                 base: int = 64) -> None:
        super().__init__(z_dim, tuple(out_shape))
        channels, height, width = self.out_shape
        if width != 2 * height or height % 4:
            raise ValueError(f"a coupled image is two square halves side by side with a side "
                             f"divisible by 4, e.g. (1, 28, 56); got {self.out_shape}")
        self.start = (2 * base, height // 4, height // 4)
        self.shared = nn.Sequential(
            nn.Linear(z_dim, math.prod(self.start), bias=False),
            nn.Unflatten(1, self.start), nn.BatchNorm2d(2 * base), nn.ReLU(),
            nn.ConvTranspose2d(2 * base, base, 4, 2, 1, bias=False), nn.BatchNorm2d(base),
            nn.ReLU())
        self.heads = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(base, channels, 4, 2, 1), nn.Tanh())
            for _ in range(2))
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.shared(z)
        return torch.cat([head(h) for head in self.heads], dim=3)


class CoupledDiscriminator(Discriminator):
    """Each half -> its own Conv(4, stride 2) + LReLU(0.2) -> shared Conv(4, stride 2) +
    LReLU -> shared Linear: one logit per domain (N, 2). No batch norm: both domains, real
    and fake, go through the shared layers in one batch."""

    logits_shape = (2,)

    def __init__(self, in_shape: Sequence[int] = (1, 28, 56), base: int = 64) -> None:
        super().__init__(tuple(in_shape))
        channels, height, width = self.in_shape
        if width != 2 * height or height % 4:
            raise ValueError(f"a coupled image is two square halves side by side with a side "
                             f"divisible by 4, e.g. (1, 28, 56); got {self.in_shape}")
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2))
            for _ in range(2))
        self.shared = nn.Sequential(
            nn.Conv2d(base, 2 * base, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
            nn.Linear(2 * base * (height // 4) ** 2, 1))
        dcgan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        halves = x.chunk(2, dim=3)
        h = torch.cat([head(half) for head, half in zip(self.heads, halves, strict=True)])
        return self.shared(h).view(2, x.shape[0]).T


class CoupledMNIST(Dataset):
    """MNIST digits beside their negatives (CoGAN's digits / negative digits task): each
    image is a digit on the left and the negative of an unrelated digit on the right (a
    fixed shuffle), so the halves are unpaired. Labels are the left digit's. ``ganzoo
    eval`` scores each half with the MNIST evaluator (the right one turned positive again)
    and how often both halves show one digit."""

    name = "coupled-mnist"
    sample_shape = (1, 28, 56)
    num_classes = 10
    scored_by = "mnist"

    def __init__(self) -> None:
        self.digits = MNIST()

    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        images, labels = self.digits.load(split, root)
        order = torch.randperm(len(images),
                               generator=torch.Generator().manual_seed(PAIRING_SEED))
        return torch.cat([images, 255 - images[order]], dim=3), labels

    def domains(self, images: Tensor) -> dict[str, Tensor]:
        left, right = images.chunk(2, dim=3)
        return {"digits": left, "negatives": -right}
