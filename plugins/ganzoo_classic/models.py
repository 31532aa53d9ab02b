"""DCGAN-style convolutional models and the class-conditional MLP GAN.

DCGAN (Radford et al. 2016): transposed convolutions with batch norm and ReLU in G, strided
convolutions with LeakyReLU(0.2) in D, tanh output, weights drawn from N(0, 0.02). The
number of stride-2 stages follows the image size (28 -> 7x7 start, 32 -> 4x4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganzoo import Discriminator, DOutput, Generator, mlp_layers

D_NORMS = ("batch", "layer", "spectral", "none")


def stages(size: int) -> tuple[int, int]:
    """(start size, stride-2 stages): halve while even and above 4; 28 -> (7, 2)."""
    n = 0
    while size % 2 == 0 and size > 4:
        size, n = size // 2, n + 1
    if n == 0:
        raise ValueError(f"image side {size} cannot be reached by stride-2 stages")
    return size, n


def pyramid(shape: Sequence[int], base: int) -> tuple[int, int, list[int]]:
    """A DCGAN's layout for square images of ``shape``: (channels, the side at the
    narrow end, the widths of the stride-2 stages from the image side inwards); e.g.
    (1, 28, 28), base 64 -> (1, 7, [64, 128]). G runs it backwards."""
    channels, height, width = shape
    if height != width:
        raise ValueError(f"DCGAN models take square images, got {height}x{width}")
    start, n = stages(height)
    return channels, start, [base * 2 ** i for i in range(n)]


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights (batch-norm scales N(1, 0.02)), zero biases, as in the paper."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            # under spectral norm, .weight is computed: initialise the stored original
            weight = (m.parametrizations.weight.original
                      if parametrize.is_parametrized(m, "weight") else m.weight)
            nn.init.normal_(weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(Generator):
    """z -> Linear -> (ch, s, s) -> [ConvT(4, stride 2) + BN + ReLU]... -> ConvT -> tanh.

    With ``num_classes`` it is class-conditional: z is joined by a label embedding.
    """

    def __init__(self, z_dim: int = 100, out_shape: Sequence[int] = (1, 28, 28),
                 base: int = 64, num_classes: int = 0, embed_dim: int = 16) -> None:
        super().__init__(z_dim, tuple(out_shape), num_classes)
        self.embed = nn.Embedding(self.num_classes, embed_dim) if self.num_classes else None
        z_in = self.z_dim + (embed_dim if self.num_classes else 0)
        channels, start, widths = pyramid(self.out_shape, base)
        widths = widths[::-1]  # e.g. [128, 64] for 28x28
        self.start = (widths[0], start, start)
        self.project = nn.Sequential(nn.Linear(z_in, math.prod(self.start), bias=False),
                                     nn.BatchNorm1d(math.prod(self.start)), nn.ReLU())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.body(self.project(z).view(z.shape[0], *self.start))


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # over (C, H, W) of each sample: safe with a gradient penalty
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DCGANDiscriminator(Discriminator):
    """x -> Conv(4, stride 2) + LReLU(0.2) -> [Conv(4, stride 2) + norm + LReLU]... -> Linear.

    ``norm``: "batch" (DCGAN), "layer" (WGAN-GP: a per-sample gradient penalty must not
    mix samples), "spectral" (spectral normalisation of every weight, SN-GAN) or "none".
    With ``num_classes`` it is class-conditional with a projection head (Miyato & Koyama
    2018): the logit gains embedding(y) . features(x). With ``class_outputs`` it also
    predicts the class from the image (ACGAN's auxiliary classifier), as a DOutput; with
    ``logits_from_classes`` too, its real/fake logit is log sum_k exp(class logit k), so
    p(real) = Z / (Z + 1) (the semi-supervised GAN of Salimans et al. 2016). With
    ``return_features`` the DOutput also holds the flattened last conv features (for a
    head that shares D's body, as InfoGAN's Q).
    """

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), base: int = 64,
                 norm: str = "batch", slope: float = 0.2, num_classes: int = 0,
                 class_outputs: int = 0, logits_from_classes: bool = False,
                 return_features: bool = False) -> None:
        super().__init__(tuple(in_shape), num_classes)
        self.class_outputs = int(class_outputs)
        if logits_from_classes and not self.class_outputs:
            raise ValueError("logits_from_classes needs class_outputs > 0")
        self.return_features = bool(return_features)
        if norm not in D_NORMS:
            raise ValueError(f"norm must be one of {', '.join(D_NORMS)}, got {norm!r}")
        self.batch_dependent = norm == "batch"
        channels, start, widths = pyramid(self.in_shape, base)  # widths [64, 128] for 28x28
        wrap = spectral_norm if norm == "spectral" else (lambda m: m)
        layers: list[nn.Module] = [wrap(nn.Conv2d(channels, widths[0], 4, 2, 1)),
                                   nn.LeakyReLU(slope)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [wrap(nn.Conv2d(c_in, c_out, 4, 2, 1)), _norm(norm, c_out),
                       nn.LeakyReLU(slope)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = widths[-1] * start * start
        self.head = None if logits_from_classes else wrap(nn.Linear(self.feature_dim, 1))
        self.embed = (wrap(nn.Embedding(self.num_classes, widths[-1] * start * start))
                      if self.num_classes else None)
        self.classify = (wrap(nn.Linear(widths[-1] * start * start, self.class_outputs))
                         if self.class_outputs else None)
        dcgan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor | DOutput:
        h = self.features(x)
        classes = self.classify(h) if self.classify is not None else None
        logits = torch.logsumexp(classes, 1) if self.head is None else self.head(h).view(-1)
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(1)
        if classes is None and not self.return_features:
            return logits
        return DOutput(logits, class_logits=classes,
                       features=h if self.return_features else None)


class InfoGANGenerator(DCGANGenerator):
    """A DCGAN generator whose latent input is [z, c1, c2, ...] (InfoGAN, Chen et al. 2016):
    z ~ N(0, sigma^2 I) of ``z_dim`` (sigma 1; ClusterGAN's 0.1), then c1 one-hot over
    ``categorical`` values (uniform), then ``continuous`` codes c2, c3, ... ~ U(-1, 1).
    ``codes`` names them for ``sample --vary``.
    """

    def __init__(self, z_dim: int = 62, categorical: int = 10, continuous: int = 2,
                 out_shape: Sequence[int] = (1, 28, 28), base: int = 64,
                 sigma: float = 1.0) -> None:
        if categorical < 0 or continuous < 0 or not categorical + continuous:
            raise ValueError("InfoGAN needs at least one code: categorical or continuous > 0")
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        super().__init__(z_dim + categorical + continuous, out_shape, base)
        self.noise_dim, self.categorical, self.continuous = (int(z_dim), int(categorical),
                                                             int(continuous))
        self.sigma = float(sigma)
        names = ["c1"] * bool(categorical) + [f"c{i}" for i in range(2, 2 + continuous)]
        self.codes = {name: (self.categorical if name == "c1" and categorical else 0)
                      for name in names}

    def sample_noise(self, n: int, device: torch.device | str | None = None) -> Tensor:
        z = torch.randn(n, self.noise_dim, device=device)
        if self.sigma != 1.0:
            z = z * self.sigma
        index = torch.randint(0, max(self.categorical, 1), (n,), device=device)
        one_hot = nn.functional.one_hot(index, self.categorical).to(z.dtype)
        uniform = torch.rand(n, self.continuous, device=device) * 2 - 1
        return torch.cat([z, one_hot, uniform], 1)

    def with_code(self, noise: Tensor, name: str, values: Tensor) -> Tensor:
        noise = noise.clone()
        if self.codes[name]:  # the categorical code: its one-hot block
            block = slice(self.noise_dim, self.noise_dim + self.categorical)
            noise[:, block] = nn.functional.one_hot(values.long(), self.categorical).to(noise)
        else:
            noise[:, self.noise_dim + self.categorical + int(name[1:]) - 2] = values
        return noise


def conv_encoder(shape: Sequence[int], out_features: int, base: int = 64,
                 slope: float = 0.2) -> nn.Sequential:
    """Images -> [Conv(4, stride 2) (+ batch norm after the first) + LReLU]... -> Linear to
    ``out_features``: the DCGAN discriminator's body with a wider head (an encoder)."""
    channels, start, widths = pyramid(shape, base)
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(zip([channels, *widths[:-1]], widths, strict=True)):
        layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), *([nn.BatchNorm2d(c_out)] if i else []),
                   nn.LeakyReLU(slope)]
    encoder = nn.Sequential(*layers, nn.Flatten(),
                            nn.Linear(widths[-1] * start * start, out_features))
    dcgan_init(encoder)
    return encoder


ENERGIES = ("l1", "l2")


class AutoencoderDiscriminator(Discriminator):
    """An autoencoder as D (EBGAN, BEGAN): x -> [Conv(4, stride 2) + LReLU]... -> Linear ->
    an embedding of ``embed_dim`` -> Linear -> [ConvT(4, stride 2)]... -> tanh. Its energy
    is the per-image mean squared ("l2", EBGAN) or absolute ("l1", BEGAN) reconstruction
    error; it returns DOutput(logits=-energy, features=embedding)."""

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), base: int = 64,
                 embed_dim: int = 32, energy: str = "l2", slope: float = 0.2) -> None:
        super().__init__(tuple(in_shape))
        if energy not in ENERGIES:
            raise ValueError(f"energy must be one of {', '.join(ENERGIES)}, got {energy!r}")
        self.energy = energy
        channels, start, widths = pyramid(self.in_shape, base)  # widths [64, 128] for 28x28
        self.start = (widths[-1], start, start)
        down: list[nn.Module] = []
        for c_in, c_out in zip([channels, *widths[:-1]], widths, strict=True):
            down += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(slope)]
        self.encode = nn.Sequential(*down, nn.Flatten(), nn.Linear(math.prod(self.start),
                                                                   embed_dim))
        up: list[nn.Module] = []
        for c_in, c_out in zip(widths[::-1], [*widths[::-1][1:], channels], strict=True):
            up += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(slope)]
        up[-1] = nn.Tanh()
        self.project = nn.Sequential(nn.Linear(embed_dim, math.prod(self.start)),
                                     nn.LeakyReLU(slope))
        self.decode = nn.Sequential(*up)
        dcgan_init(self)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> DOutput:
        embedding = self.encode(x)
        rebuilt = self.decode(self.project(embedding).view(x.shape[0], *self.start))
        error = (rebuilt - x).abs() if self.energy == "l1" else (rebuilt - x).square()
        return DOutput(-error.flatten(1).mean(1), features=embedding)


class ConditionalMLPGenerator(Generator):
    """G(z, y): the tutorial's MLP on [z, embedding(y)] (Mirza & Osindero 2014's concat)."""

    def __init__(self, z_dim: int = 64, out_shape: Sequence[int] = (1, 28, 28),
                 num_classes: int = 10, embed_dim: int = 16, hidden: Sequence[int] = (256, 512),
                 slope: float = 0.1) -> None:
        super().__init__(z_dim, tuple(out_shape), num_classes)
        self.embed = nn.Embedding(self.num_classes, embed_dim)
        sizes = [self.z_dim + embed_dim, *hidden]
        self.net = nn.Sequential(*mlp_layers(sizes, slope), nn.LeakyReLU(slope),
                                 nn.Linear(sizes[-1], math.prod(self.out_shape)), nn.Tanh())

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        h = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(h).view(z.shape[0], *self.out_shape)


class ProjectionMLPDiscriminator(Discriminator):
    """D(x, y) = w . phi(x) + embedding(y) . phi(x): the projection discriminator of Miyato
    & Koyama (2018) on the tutorial's MLP features phi."""

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 hidden: Sequence[int] = (256, 128), slope: float = 0.1) -> None:
        super().__init__(tuple(in_shape), num_classes)
        sizes = [math.prod(self.in_shape), *hidden]
        self.phi = nn.Sequential(*mlp_layers(sizes, slope), nn.LeakyReLU(slope))
        self.head = nn.Linear(sizes[-1], 1)
        self.embed = nn.Embedding(self.num_classes, sizes[-1])
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # starts close to an unconditional D

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.phi(x.flatten(1))
        return self.head(h).view(-1) + (self.embed(labels) * h).sum(1)
