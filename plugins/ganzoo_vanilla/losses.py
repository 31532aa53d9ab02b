"""The tutorial's loss, on logits.

BCE(sigmoid(x), 1) = softplus(-x) and BCE(sigmoid(x), 0) = softplus(x): the tutorial's
Sigmoid + BCELoss, computed stably in one kernel per term.
"""

from __future__ import annotations

from torch import Tensor

from ganzoo import GANLoss, non_saturating_d, non_saturating_g


class NonSaturatingBCE(GANLoss):
    """D: (BCE(D(x), 1) + BCE(D(G(z)), 0)) / 2, halved as in the tutorial.
    G: the non-saturating BCE(D(G(z)), 1), i.e. maximise log D(G(z))."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return non_saturating_d(real_logits, fake_logits) / 2

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return non_saturating_g(fake_logits)
