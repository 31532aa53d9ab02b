"""The ResNet G and D of SN-GAN (Miyato et al. 2018, appendix B.4: CIFAR-10 at 32 px).

G: z -> Linear -> (ch, 4, 4) -> up-blocks (each doubling the side) -> BN, ReLU, conv3x3 ->
tanh; an up-block is BN, ReLU, nearest 2x upsample, conv3x3, BN, ReLU, conv3x3, plus the
upsampled input through a 1x1 conv. D: a first block (conv3x3, ReLU, conv3x3, 2x2 average
pool; shortcut: pool, then 1x1 conv), down-blocks, blocks at full size, ReLU, the sum over
space, Linear -> logit; every weight spectrally normalised. For 32 px: ch 256 in G, 128 in
D, three up-blocks; D: first block, one down-block, two plain blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from ganzoo import Discriminator, Generator


def _up_blocks(side: int) -> int:
    """The up-blocks from 4x4 to ``side`` (a power of two from 8)."""
    blocks = side.bit_length() - 3
    if side < 8 or side != 4 << blocks:
        raise ValueError(f"the SN-GAN ResNet takes square sides 8, 16, 32, 64, ...; got {side}")
    return blocks


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1))
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


class DownBlock(nn.Module):
    """D's residual block; ``first``: the optimised first block (no ReLU before its input)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        pool = [nn.AvgPool2d(2)] if down else []
        self.body = nn.Sequential(
            *([] if first else [nn.ReLU()]), spectral_norm(nn.Conv2d(c_in, c_out, 3, padding=1)),
            nn.ReLU(), spectral_norm(nn.Conv2d(c_out, c_out, 3, padding=1)), *pool)
        learnable = down or c_in != c_out
        conv = [spectral_norm(nn.Conv2d(c_in, c_out, 1))] if learnable else []
        self.shortcut = nn.Sequential(*(pool + conv if first else conv + pool))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


class ResNetGenerator(Generator):
    """SN-GAN's ResNet generator (see the module); ``width`` channels throughout."""

    def __init__(self, z_dim: int = 128, out_shape: Sequence[int] = (3, 32, 32),
                 width: int = 256) -> None:
        super().__init__(z_dim, tuple(out_shape))
        channels, height, side = self.out_shape
        if height != side:
            raise ValueError(f"the SN-GAN ResNet takes square images, got {height}x{side}")
        self.width = width
        self.project = nn.Linear(z_dim, width * 16)
        self.blocks = nn.Sequential(*(UpBlock(width, width) for _ in range(_up_blocks(side))))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 nn.Conv2d(width, channels, 3, padding=1), nn.Tanh())
        _xavier(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.out(self.blocks(self.project(z).view(-1, self.width, 4, 4)))


class ResNetDiscriminator(Discriminator):
    """SN-GAN's ResNet discriminator (see the module): ``width`` channels, down-blocks
    to 8x8, two blocks there."""

    def __init__(self, in_shape: Sequence[int] = (3, 32, 32), width: int = 128) -> None:
        super().__init__(tuple(in_shape))
        channels, height, side = self.in_shape
        if height != side:
            raise ValueError(f"the SN-GAN ResNet takes square images, got {height}x{side}")
        downs = _up_blocks(side) - 1  # to 8x8
        blocks = [DownBlock(channels, width, down=True, first=True)]
        blocks += [DownBlock(width, width, down=True) for _ in range(downs - 1)]
        blocks += [DownBlock(width, width, down=False) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks, nn.ReLU())
        self.head = spectral_norm(nn.Linear(width, 1))
        _xavier(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.head(self.blocks(x).sum(dim=(2, 3))).view(-1)


def _xavier(module: nn.Module) -> None:
    """Xavier-uniform weights (SN-GAN's chainer code), zero biases."""
    from torch.nn.utils import parametrize

    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            weight = (m.parametrizations.weight.original
                      if parametrize.is_parametrized(m, "weight") else m.weight)
            with torch.no_grad():
                nn.init.xavier_uniform_(weight)
                if m.bias is not None:
                    m.bias.zero_()
