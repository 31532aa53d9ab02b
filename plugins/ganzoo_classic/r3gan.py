"""R3GAN's G and D (Huang et al. 2024, "The GAN is dead; long live the GAN!").

A modernised ConvNet without normalisation: stages of ResNeXt-style residual blocks (1x1
conv -> biased leaky ReLU -> grouped 3x3 conv -> biased leaky ReLU -> 1x1 conv, added to
the input), joined by resampling with the [1, 2, 1] filter and a 1x1 conv where the width
changes. G starts from a learned basis (a per-channel map at the smallest side, scaled by a
linear projection of z) and ends in a 1x1 conv to the image, without tanh; D mirrors it and
ends in a depthwise conv over the whole smallest map, then a linear layer to the logit.
Initialisation does the normalisation's job: weights N(0, gain^2 / fan_in), each block's last
conv zero (so every block starts as the identity) and the others scaled by L^(-1/4) for L
blocks in all (fix-up variance scaling).

``widths`` lists the channels of each stage from the smallest side up, for both G and D
(the paper's CIFAR-10: four stages of 768, cardinality 96, two blocks each; ours are narrower
for a CPU); the smallest side is the image side halved once per stage after the first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo import Discriminator, Generator

LEAK = 0.2
GAIN = math.sqrt(2 / (1 + LEAK**2))  # keeps the variance through a leaky ReLU


def msr(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """N(0, gain^2 / fan_in) weights (He et al.'s "MSR" initialisation), zero biases."""
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(layer.weight[0].numel()))
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv(c_in: int, c_out: int, size: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Module:
    return msr(nn.Conv2d(c_in, c_out, size, padding=(size - 1) // 2, groups=groups, bias=False),
               gain)


class BiasedLeakyReLU(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), LEAK)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, cardinality: int, expansion: int, blocks_in_all: int
                 ) -> None:
        super().__init__()
        wide = channels * expansion
        if wide % cardinality:
            raise ValueError(f"cardinality {cardinality} must divide the expanded width {wide}")
        gain = GAIN * blocks_in_all ** (-1 / 4)  # 3 convs per block: L^(-1 / (2 * 3 - 2))
        self.body = nn.Sequential(
            conv(channels, wide, gain=gain), BiasedLeakyReLU(wide),
            conv(wide, wide, 3, groups=cardinality, gain=gain), BiasedLeakyReLU(wide),
            conv(wide, channels, gain=0.0))  # zero: the block starts as the identity

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _up(x: Tensor, dim: int) -> Tensor:
    """x2 along ``dim``: zeros inserted, then [1, 2, 1] / 2: each value, then the mean of it
    and the next (zero past the end)."""
    after = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), torch.zeros_like(x.narrow(dim, 0, 1))],
                      dim)
    return torch.stack([x, (x + after) / 2], dim + 1).flatten(dim, dim + 1)


def _down(x: Tensor, dim: int) -> Tensor:
    """/2 along ``dim``: [1, 2, 1] / 4 around every other value (zero before the start)."""
    even, odd = x.narrow(dim, 0, x.shape[dim] // 2 * 2).unflatten(dim, (-1, 2)).unbind(dim + 1)
    before = torch.cat([torch.zeros_like(odd.narrow(dim, 0, 1)),
                        odd.narrow(dim, 0, odd.shape[dim] - 1)], dim)
    return (before + 2 * even + odd) / 4


class Resample(nn.Module):
    """x2 up (zeros inserted, then the filter) or /2 down (the filter, then every other
    pixel) with the [1, 2, 1] filter, per axis: elementwise, where a depthwise convolution
    would cost ten times as much in a CPU's backward pass."""

    def __init__(self, up: bool) -> None:
        super().__init__()
        self.up = up

    def forward(self, x: Tensor) -> Tensor:
        step = _up if self.up else _down
        return step(step(x, 2), 3)


def _stage_blocks(width: int, cardinality: int, blocks: int, expansion: int,
                  blocks_in_all: int) -> list[nn.Module]:
    return [ResidualBlock(width, cardinality, expansion, blocks_in_all) for _ in range(blocks)]


def _smallest_side(shape: tuple[int, ...], stages: int) -> int:
    _, height, side = shape
    smallest = side >> (stages - 1)
    if height != side or smallest < 2 or smallest << (stages - 1) != side:
        raise ValueError(f"{stages} stages need a square side that halves {stages - 1} times "
                         f"to at least 2 (e.g. 28 or 32 for 3 stages); got {height}x{side}")
    return smallest


class R3GANGenerator(Generator):
    """R3GAN's generator (see the module)."""

    def __init__(self, z_dim: int = 64, out_shape: Sequence[int] = (3, 32, 32),
                 widths: Sequence[int] = (128, 128, 128, 128), cardinality: int = 16,
                 blocks: int = 2, expansion: int = 2) -> None:
        super().__init__(z_dim, tuple(out_shape))
        widths = [int(w) for w in widths]
        self.side = _smallest_side(self.out_shape, len(widths))
        in_all = blocks * len(widths)
        self.basis = nn.Parameter(torch.randn(widths[0], self.side, self.side))
        self.project = msr(nn.Linear(z_dim, widths[0], bias=False))
        layers = _stage_blocks(widths[0], cardinality, blocks, expansion, in_all)
        for before, width in zip(widths, widths[1:], strict=False):
            layers += [*([conv(before, width)] if width != before else []),
                       Resample(up=True),
                       *_stage_blocks(width, cardinality, blocks, expansion, in_all)]
        self.body = nn.Sequential(*layers, conv(widths[-1], self.out_shape[0]))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        start = self.basis.unsqueeze(0) * self.project(z)[:, :, None, None]
        return self.body(start)


class R3GANDiscriminator(Discriminator):
    """R3GAN's discriminator (see the module)."""

    def __init__(self, in_shape: Sequence[int] = (3, 32, 32),
                 widths: Sequence[int] = (128, 128, 128, 128), cardinality: int = 16,
                 blocks: int = 2, expansion: int = 2) -> None:
        super().__init__(tuple(in_shape))
        widths = [int(w) for w in widths][::-1]  # from the image down
        side = _smallest_side(self.in_shape, len(widths))
        in_all = blocks * len(widths)
        layers = [conv(self.in_shape[0], widths[0])]
        for width, after in zip(widths, widths[1:], strict=False):
            layers += [*_stage_blocks(width, cardinality, blocks, expansion, in_all),
                       Resample(up=False),
                       *([conv(width, after)] if after != width else [])]
        last = widths[-1]
        self.body = nn.Sequential(*layers,
                                  *_stage_blocks(last, cardinality, blocks, expansion, in_all))
        # the basis: a depthwise conv over the whole smallest map, as a weighted sum
        self.basis = nn.Parameter(torch.randn(last, side, side) / side)  # MSR, fan-in side^2
        self.head = msr(nn.Linear(last, 1, bias=False))

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.head((self.body(x) * self.basis).sum((2, 3))).view(-1)
