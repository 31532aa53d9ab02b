"""Variants whose losses need more than (real logits, fake logits): objectives on the step's
context (``ganzoo.Objective``). Notation: C(x) is D's raw logit, x real, x~ = G(z) fake,
E the batch mean, s the sigmoid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo import Objective


class WGAN(Objective):
    """WGAN (Arjovsky et al. 2017): D: E C(x~) - E C(x); G: -E C(x~); every D weight is
    clipped to [-clip, clip] after each D update."""

    def __init__(self, clip: float = 0.01) -> None:
        if not clip > 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        self.clip = float(clip)

    def d_loss(self, ctx) -> Tensor:
        return ctx.fake_out.logits.mean() - ctx.real_out.logits.mean()

    def g_loss(self, ctx) -> Tensor:
        return -ctx.fake_out.logits.mean()

    @torch.no_grad()
    def after_d_update(self, discriminator: nn.Module) -> None:
        for p in discriminator.parameters():
            p.clamp_(-self.clip, self.clip)


class RelativisticAverage(Objective):
    """RaGAN (Jolicoeur-Martineau 2019), on the non-saturating loss:
    D: -E log s(C(x) - E C(x~)) - E log(1 - s(C(x~) - E C(x)));
    G: -E log s(C(x~) - E C(x)) - E log(1 - s(C(x) - E C(x~))).
    G's loss reads the real logits, through which no gradient reaches G."""

    @staticmethod
    def _loss(first: Tensor, second: Tensor) -> Tensor:
        # -log s(a) = softplus(-a), -log(1 - s(b)) = softplus(b)
        return (F.softplus(-(first - second.mean())).mean()
                + F.softplus(second - first.mean()).mean())

    def d_loss(self, ctx) -> Tensor:
        return self._loss(ctx.real_out.logits, ctx.fake_out.logits)

    def g_loss(self, ctx) -> Tensor:
        return self._loss(ctx.fake_out.logits, ctx.real_out.logits.detach())


class SoftmaxGAN(Objective):
    """Softmax GAN (Lin 2017). C is an energy (low = real); with Z = sum over the real batch
    B+ and the fake batch B- of exp(-C): D: mean_{B+} C + ln Z; G: mean_{B+ and B-} C + ln Z.
    G's loss reads the real logits."""

    def d_loss(self, ctx) -> Tensor:
        real, fake = ctx.real_out.logits, ctx.fake_out.logits
        return real.mean() + torch.logsumexp(-torch.cat([real, fake]), 0)

    def g_loss(self, ctx) -> Tensor:
        both = torch.cat([ctx.real_out.logits.detach(), ctx.fake_out.logits])
        return both.mean() + torch.logsumexp(-both, 0)


class AuxiliaryClassifier(Objective):
    """ACGAN (Odena et al. 2017): D returns a source logit and class logits. D: the BCE
    source loss (real 1, fake 0) + CE of the class logits on real images (their labels) and
    on fakes (the labels G was given); G: the non-saturating source loss + CE of the class
    logits on its fakes. ``class_weight`` scales the class terms."""

    def __init__(self, class_weight: float = 1.0) -> None:
        self.class_weight = float(class_weight)

    def d_loss(self, ctx) -> Tensor:
        real, fake = ctx.real_out, ctx.fake_out
        source = F.softplus(-real.logits).mean() + F.softplus(fake.logits).mean()
        classes = (F.cross_entropy(real.class_logits, ctx.labels)
                   + F.cross_entropy(fake.class_logits, ctx.labels))
        return source + self.class_weight * classes

    def g_loss(self, ctx) -> Tensor:
        fake = ctx.fake_out
        return (F.softplus(-fake.logits).mean()
                + self.class_weight * F.cross_entropy(fake.class_logits, ctx.labels))
