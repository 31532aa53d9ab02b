"""The terms GAN losses are built from, each written once, on D's raw logits (C(x) for a
real image x, C(x~) for a fake; E the batch mean, s the sigmoid)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def non_saturating_d(real: Tensor, fake: Tensor) -> Tensor:
    """D's loss of the original GAN: -E log s(C(x)) - E log(1 - s(C(x~))), i.e.
    BCE(C(x), 1) + BCE(C(x~), 0), each as one stable softplus."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def non_saturating_g(fake: Tensor) -> Tensor:
    """G's non-saturating loss: -E log s(C(x~)), i.e. BCE(C(x~), 1)."""
    return F.softplus(-fake).mean()


def wasserstein_d(real: Tensor, fake: Tensor) -> Tensor:
    """The critic's loss, minus its Wasserstein estimate: E C(x~) - E C(x)."""
    return fake.mean() - real.mean()


def wasserstein_g(fake: Tensor) -> Tensor:
    """G's loss against a critic (WGAN, and the hinge loss's G): -E C(x~)."""
    return -fake.mean()
