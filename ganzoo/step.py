"""One training step: a discriminator update, then a generator update.

The tutorial's math without its waste: G(z) is computed once; D sees real and (detached)
fake images in one forward pass; the G step re-runs D on the same fake batch after D's
update, with D's parameter gradients switched off since only G is updated. Under
``precision="bf16"`` the forward passes run in bfloat16 autocast while the losses, the
weights and the optimiser state stay in float32.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from .errors import ConfigError
from .interfaces import Discriminator, GANLoss, Generator

PRECISIONS = ("fp32", "bf16")


class TrainStep:
    def __init__(self, generator: Generator, discriminator: Discriminator, loss: GANLoss,
                 opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                 precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}; choose from "
                              f"{', '.join(PRECISIONS)}")
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.opt_g = opt_g
        self.opt_d = opt_d
        self.precision = precision

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def __call__(self, real: Tensor) -> Tensor:
        """Train on one real batch; returns ``[loss_d, loss_g]`` on the device (no host sync)."""
        G, D, loss = self.generator, self.discriminator, self.loss
        n = real.shape[0]
        with self._autocast(real.device):
            fake = G(G.sample_noise(n, real.device))
            logits = D(torch.cat([real, fake.detach().to(real.dtype)])).float()
        real_logits, fake_logits = logits.split(n)
        loss_d = loss.discriminator_loss(real_logits, fake_logits)
        reg = loss.discriminator_regularizer(D, real, fake.detach())
        total_d = loss_d if reg is None else loss_d + reg
        self.opt_d.zero_grad(set_to_none=True)
        total_d.backward()
        self.opt_d.step()

        D.requires_grad_(False)
        try:
            with self._autocast(real.device):
                fake_logits = D(fake).float()
            loss_g = loss.generator_loss(fake_logits)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            D.requires_grad_(True)
        return torch.stack([loss_d.detach(), loss_g.detach()])
