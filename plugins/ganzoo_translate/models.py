"""The image-to-image networks of pix2pix (Isola et al. 2017) and CycleGAN (Zhu et al. 2017):
the U-Net and ResNet generators and the PatchGAN discriminator, as the authors' code builds
them (4x4 convolutions, instance norm without affine parameters, N(0, 0.02) weights).

A generator here holds one network per direction it translates -- "AB" (pix2pix) or both
(CycleGAN: G_AB and G_BA) -- and follows :class:`ganzoo.Translator`'s convention for what
it returns; a discriminator judges the pair as one image (pix2pix's D, conditioned on the
source) or each domain with a net of its own (CycleGAN's D_A and D_B).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ganzoo import Discriminator, Translator, pairs

DIRECTIONS = {"AB": ("AB",), "both": ("AB", "BA")}
JUDGES = ("pair", "domains")


def instance_norm(channels: int) -> nn.Module:
    """The authors' "instance" norm: no affine parameters, no running statistics."""
    return nn.InstanceNorm2d(channels)


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases (the authors' ``init_type=normal``)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _side(shape: Sequence[int], what: str) -> tuple[int, int]:
    """(channels of one side, resolution) of a square pair shape (2C, R, R)."""
    channels, height, width = (int(s) for s in shape)
    if channels % 2 or height != width:
        raise ValueError(f"{what} takes square image pairs stacked on channels (2C, R, R), "
                         f"e.g. (2, 32, 32); got {tuple(shape)}")
    return channels // 2, height


class PairTranslator(Translator):
    """One network per direction, ``make(channels)`` each: "AB" returns (A, G(A)), "both"
    (G_BA(B), G_AB(A))."""

    def __init__(self, out_shape: Sequence[int], directions: str,
                 make: Callable[[], nn.Module]) -> None:
        super().__init__(tuple(out_shape))
        if directions not in DIRECTIONS:
            raise ValueError(f"directions is one of {', '.join(DIRECTIONS)}; got "
                             f"{directions!r}")
        self.directions = DIRECTIONS[directions]
        self.nets = nn.ModuleDict({d: make() for d in self.directions})
        init_weights(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        a, b = pairs.split(x)
        if "BA" in self.nets:
            return pairs.join(self.nets["BA"](b), self.nets["AB"](a))
        return pairs.join(a, self.nets["AB"](a))

    def translate(self, images: Tensor, direction: str = "AB") -> Tensor:
        if direction not in self.nets:
            return super().translate(images, direction)  # its error names the directions
        return self.nets[direction](images)


class UNet(nn.Module):
    """pix2pix's U-Net: 4x4 stride-2 convolutions down to 1x1 (LReLU 0.2, norm but on the
    first and last), transposed ones back up (ReLU, norm, dropout at the 8x-wide levels
    between), each up-step fed the matching down-step's output beside its own; tanh."""

    def __init__(self, channels: int, resolution: int, width: int = 64,
                 dropout: float = 0.5) -> None:
        super().__init__()
        depth = int(math.log2(resolution))
        if 2 ** depth != resolution or depth < 3:
            raise ValueError(f"the U-Net halves its input down to 1x1: resolution must be a "
                             f"power of 2 from 8, got {resolution}")
        widths = [width * min(2 ** i, 8) for i in range(depth)]
        self.downs = nn.ModuleList()
        for i, w in enumerate(widths):
            layers = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(channels if i == 0 else widths[i - 1], w, 4, 2, 1))
            if 0 < i < depth - 1:
                layers.append(instance_norm(w))
            self.downs.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList()
        for i in reversed(range(depth)):
            given = widths[i] if i == depth - 1 else 2 * widths[i]
            out = widths[i - 1] if i else channels
            layers = [nn.ReLU(), nn.ConvTranspose2d(given, out, 4, 2, 1)]
            if i == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(instance_norm(out))
                if dropout and widths[i] == 8 * width and 0 < i < depth - 1:
                    layers.append(nn.Dropout(dropout))
            self.ups.append(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        skips.pop()  # the innermost output goes straight up
        for up in self.ups:
            x = up(x)
            if skips:
                x = torch.cat([x, skips.pop()], 1)
        return x


class UNetTranslator(PairTranslator):
    """pix2pix's generator: a U-Net per direction (``directions`` "AB" or "both")."""

    def __init__(self, out_shape: Sequence[int] = (2, 32, 32), width: int = 64,
                 dropout: float = 0.5, directions: str = "AB") -> None:
        channels, resolution = _side(out_shape, "the U-Net")
        super().__init__(out_shape, directions,
                         lambda: UNet(channels, resolution, width, dropout))


class ResidualBlock(nn.Module):
    """x + (reflection pad, 3x3 conv, norm, ReLU, reflection pad, 3x3 conv, norm)(x)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), instance_norm(width), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), instance_norm(width))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def resnet(channels: int, width: int, blocks: int) -> nn.Sequential:
    """CycleGAN's generator (Johnson et al.'s): c7s1-w, d2w, d4w, ``blocks`` x R4w, u2w, uw,
    c7s1-C, tanh; reflection padding, instance norm."""
    def norm_relu(w: int) -> list[nn.Module]:
        return [instance_norm(w), nn.ReLU()]

    return nn.Sequential(
        nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7), *norm_relu(width),
        nn.Conv2d(width, 2 * width, 3, 2, 1), *norm_relu(2 * width),
        nn.Conv2d(2 * width, 4 * width, 3, 2, 1), *norm_relu(4 * width),
        *(ResidualBlock(4 * width) for _ in range(blocks)),
        nn.ConvTranspose2d(4 * width, 2 * width, 3, 2, 1, output_padding=1),
        *norm_relu(2 * width),
        nn.ConvTranspose2d(2 * width, width, 3, 2, 1, output_padding=1), *norm_relu(width),
        nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh())


class ResNetTranslator(PairTranslator):
    """CycleGAN's generator: a ResNet per direction (``blocks`` 6 below 256 px, 9 at 256 as
    the paper; ``directions`` "both" or "AB")."""

    def __init__(self, out_shape: Sequence[int] = (2, 32, 32), width: int = 64,
                 blocks: int = 6, directions: str = "both") -> None:
        channels, resolution = _side(out_shape, "the ResNet translator")
        if resolution % 4:
            raise ValueError(f"the ResNet translator halves its input twice: resolution must "
                             f"be a multiple of 4, got {resolution}")
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        super().__init__(out_shape, directions, lambda: resnet(channels, width, blocks))


def patchgan(channels: int, width: int, layers: int) -> nn.Sequential:
    """The PatchGAN of pix2pix (``layers`` 3: 70x70 patches): C64 (no norm), C128, C256 at
    stride 2, C512 at stride 1, then one logit per patch; LReLU 0.2."""
    widths = [width * min(2 ** i, 8) for i in range(layers + 1)]
    stack: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
    for i in range(1, layers + 1):
        stride = 2 if i < layers else 1
        stack += [nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1), instance_norm(widths[i]),
                  nn.LeakyReLU(0.2)]
    stack.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
    return nn.Sequential(*stack)


class PatchDiscriminator(Discriminator):
    """PatchGAN: one logit per overlapping patch (70x70 px with ``layers`` 3). ``judge``:
    "pair" -- one net on the pair (2C channels), pix2pix's D conditioned on the source,
    logits (P, P) -- or "domains" -- a net per domain, CycleGAN's D_A and D_B, logits
    (2, P, P)."""

    def __init__(self, in_shape: Sequence[int] = (2, 32, 32), width: int = 64,
                 layers: int = 3, judge: str = "pair") -> None:
        super().__init__(tuple(in_shape))
        channels, resolution = _side(in_shape, "the PatchGAN")
        if judge not in JUDGES:
            raise ValueError(f"judge is one of {', '.join(JUDGES)}; got {judge!r}")
        side = resolution // 2 ** layers - 2
        if resolution % 2 ** layers or side < 1:
            raise ValueError(f"a {layers}-layer PatchGAN needs a resolution that is a "
                             f"multiple of {2 ** layers} and at least {3 * 2 ** layers}; got "
                             f"{resolution}")
        self.judge = judge
        if judge == "pair":
            self.net = patchgan(2 * channels, width, layers)
            self.logits_shape = (side, side)
        else:
            self.nets = nn.ModuleList(patchgan(channels, width, layers) for _ in range(2))
            self.logits_shape = (2, side, side)
        init_weights(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.judge == "pair":
            return self.net(x).squeeze(1)
        return torch.cat([net(side) for net, side in zip(self.nets, pairs.split(x),
                                                         strict=True)], 1)
