"""The tutorial's loss, on logits: BCE-with-logits is Sigmoid + BCELoss, numerically stable."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ganzoo import GANLoss


class NonSaturatingBCE(GANLoss):
    """D: (BCE(D(x), 1) + BCE(D(G(z)), 0)) / 2, halved as in the tutorial.
    G: the non-saturating BCE(D(G(z)), 1), i.e. maximise log D(G(z))."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return (real + fake) / 2

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
