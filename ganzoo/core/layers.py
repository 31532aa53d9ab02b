"""Building blocks that plugins share."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp_layers(sizes: Sequence[int], slope: float = 0.1) -> list[nn.Module]:
    """Linear layers between consecutive ``sizes`` with LeakyReLU(``slope``) between them
    and none after the last: ``mlp_layers([64, 256, 784])`` is Linear(64, 256),
    LeakyReLU, Linear(256, 784)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(nn.LeakyReLU(slope))
        layers.append(nn.Linear(n_in, n_out))
    return layers
