"""The tutorial's MLP generator and discriminator (the discriminator returns logits)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from ganzoo import Discriminator, Generator, mlp_layers


class MLPGenerator(Generator):
    """z -> Linear(z,256) -> LReLU -> Linear(256,512) -> LReLU -> Linear(512,C*H*W) -> Tanh."""

    def __init__(self, z_dim: int = 64, out_shape: Sequence[int] = (1, 28, 28),
                 hidden: Sequence[int] = (256, 512), slope: float = 0.1) -> None:
        super().__init__(z_dim, tuple(out_shape))
        sizes = [z_dim, *hidden, math.prod(out_shape)]
        self.net = nn.Sequential(*mlp_layers(sizes, slope), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(Discriminator):
    """x -> Linear(C*H*W,256) -> LReLU -> Linear(256,128) -> LReLU -> Linear(128,1), logits."""

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (256, 128),
                 slope: float = 0.1) -> None:
        super().__init__(tuple(in_shape))
        self.net = nn.Sequential(*mlp_layers([math.prod(in_shape), *hidden, 1], slope))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).view(-1)
