"""One training step: a discriminator update, then a generator update.

The tutorial's math without its waste: G(z) is computed once; D sees real and (detached)
fake images in one forward pass; the G step re-runs D on the same fake batch after D's
update, with D's parameter gradients switched off since only G is updated.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .interfaces import Discriminator, GANLoss, Generator


class TrainStep:
    def __init__(self, generator: Generator, discriminator: Discriminator, loss: GANLoss,
                 opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer) -> None:
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.opt_g = opt_g
        self.opt_d = opt_d

    def __call__(self, real: Tensor) -> Tensor:
        """Train on one real batch; returns ``[loss_d, loss_g]`` on the device (no host sync)."""
        G, D = self.generator, self.discriminator
        fake = G(G.sample_noise(real.shape[0], real.device))

        logits = D(torch.cat([real, fake.detach()]))
        real_logits, fake_logits = logits.split(real.shape[0])
        loss_d = self.loss.discriminator_loss(real_logits, fake_logits)
        reg = self.loss.discriminator_regularizer(D, real, fake.detach())
        total_d = loss_d if reg is None else loss_d + reg
        self.opt_d.zero_grad(set_to_none=True)
        total_d.backward()
        self.opt_d.step()

        D.requires_grad_(False)
        try:
            loss_g = self.loss.generator_loss(D(fake))
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            D.requires_grad_(True)
        return torch.stack([loss_d.detach(), loss_g.detach()])
