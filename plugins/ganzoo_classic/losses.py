"""Losses on raw D outputs: least squares, hinge, Wasserstein with a gradient penalty,
WGAN-div, DRAGAN and the boundary-seeking GAN."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ganzoo import GANLoss, non_saturating_d, non_saturating_g, wasserstein_d, wasserstein_g


class LeastSquares(GANLoss):
    """LSGAN (Mao et al. 2017) with the 0-1 coding a=0, b=c=1:
    D: (E(D(x) - 1)^2 + E D(G(z))^2) / 2;  G: E(D(G(z)) - 1)^2 / 2."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return ((real_logits - 1).square().mean() + fake_logits.square().mean()) / 2

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return (fake_logits - 1).square().mean() / 2


class Hinge(GANLoss):
    """Hinge loss (Lim & Ye 2017; SN-GAN): D: E relu(1 - D(x)) + E relu(1 + D(G(z)));
    G: -E D(G(z))."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return wasserstein_g(fake_logits)


class Wasserstein(GANLoss):
    """The critic's Wasserstein estimate: D: E D(G(z)) - E D(x); G: -E D(G(z))."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return wasserstein_d(real_logits, fake_logits)

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return wasserstein_g(fake_logits)


class WassersteinGP(Wasserstein):
    """WGAN-GP (Gulrajani et al. 2017): the Wasserstein losses, and for D a penalty
    weight * E(|grad D(x^)| - 1)^2 at random points x^ between real and fake images."""

    def __init__(self, weight: float = 10.0) -> None:
        if not weight >= 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = float(weight)

    def discriminator_regularizer(self, critic: Callable[[Tensor], Tensor], real: Tensor,
                                  fake: Tensor) -> Tensor:
        return self.weight * gradient_penalty(critic, real.lerp(fake, per_image_uniform(real)))


class WassersteinDiv(Wasserstein):
    """WGAN-div (Wu et al. 2018): the Wasserstein losses, and for D k E |grad C(x^)|^p at
    random points x^ between real and fake images (Algorithm 1). The paper: k 2, p 6."""

    def __init__(self, k: float = 2.0, p: float = 6.0) -> None:
        if not (k >= 0 and p > 0):
            raise ValueError(f"k must be >= 0 and p > 0, got k={k}, p={p}")
        self.k, self.p = float(k), float(p)

    def discriminator_regularizer(self, critic: Callable[[Tensor], Tensor], real: Tensor,
                                  fake: Tensor) -> Tensor:
        points = real.lerp(fake, per_image_uniform(real))
        norms = input_gradient(critic, points).flatten(1).norm(dim=1)
        return self.k * norms.pow(self.p).mean()


class DRAGAN(GANLoss):
    """DRAGAN (Kodali et al. 2017): the non-saturating GAN losses, and for D a penalty
    weight * E(|grad C(x^)| - 1)^2 at points near the real data, x^ = x + a * d with
    d = 0.5 std(x) U[0, 1] per element and a ~ U[0, 1] per image (the authors' code)."""

    def __init__(self, weight: float = 10.0) -> None:
        if not weight >= 0:
            raise ValueError(f"weight must be >= 0, got {weight}")
        self.weight = float(weight)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return non_saturating_d(real_logits, fake_logits)

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return non_saturating_g(fake_logits)

    def discriminator_regularizer(self, critic: Callable[[Tensor], Tensor], real: Tensor,
                                  fake: Tensor) -> Tensor:
        spread = 0.5 * real.std() * torch.rand_like(real)
        return self.weight * gradient_penalty(critic, real + per_image_uniform(real) * spread)


class BoundarySeeking(GANLoss):
    """BGAN (Hjelm et al. 2018): D the non-saturating BCE;
    G: 1/2 E (log D(x~) - log(1 - D(x~)))^2 = 1/2 E C(x~)^2."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return non_saturating_d(real_logits, fake_logits)

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return fake_logits.square().mean() / 2


def per_image_uniform(images: Tensor) -> Tensor:
    """One U[0, 1) draw per image, shaped to broadcast over it: (N, 1, 1, 1)."""
    return torch.rand(images.shape[0], *([1] * (images.ndim - 1)), device=images.device)


def input_gradient(critic: Callable[[Tensor], Tensor], points: Tensor) -> Tensor:
    """d critic(x).sum() / dx at ``points``, differentiable in critic's weights."""
    points = points.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    return grad


def gradient_penalty(critic: Callable[[Tensor], Tensor], points: Tensor) -> Tensor:
    """E(|grad_x critic(x)| - 1)^2 over ``points``, differentiable in critic's weights."""
    grad = input_gradient(critic, points)
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()
