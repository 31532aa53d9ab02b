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
from .interfaces import Discriminator, GANLoss, Generator, TrainSettings

PRECISIONS = ("fp32", "bf16")


def adam(params, lr: float, betas: tuple[float, float],
         capturable: bool = False) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch build has one for the device.

    ``capturable`` keeps the step count on the device, as CUDA graph capture needs.
    """
    params = list(params)
    extra = {"capturable": True} if capturable else {}
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True, **extra)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=betas, **extra)


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

    @classmethod
    def create(cls, generator: Generator, discriminator: Discriminator, loss: GANLoss,
               settings: TrainSettings, precision: str = "fp32",
               capturable: bool = False) -> TrainStep:
        """A step with Adam optimisers configured from the preset's settings."""
        betas = (settings.beta1, settings.beta2)
        opt_g = adam(generator.parameters(), settings.lr_g, betas, capturable)
        opt_d = adam(discriminator.parameters(), settings.lr_d, betas, capturable)
        return cls(generator, discriminator, loss, opt_g, opt_d, precision)

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def __call__(self, real: Tensor, noise: Tensor | None = None) -> Tensor:
        """Train on one real batch; returns ``[loss_d, loss_g]`` on the device (no host sync).

        ``noise`` defaults to a fresh draw from the generator's prior.
        """
        G, D, loss = self.generator, self.discriminator, self.loss
        n = real.shape[0]
        if noise is None:
            noise = G.sample_noise(n, real.device)
        with self._autocast(real.device):
            fake = G(noise)
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


class CudaGraphStep:
    """Replays a :class:`TrainStep` -- both updates, both optimisers -- as one CUDA graph.

    The first ``warmup`` calls run eagerly on a side stream (as capture requires); the next
    call captures the step and replays it; every later call copies the batch and fresh noise
    into static buffers and replays, with no host sync. Every batch is trained on exactly
    once. The optimisers must be capturable (``TrainStep.create(..., capturable=True)``).
    If capture fails, the step warns once and stays eager.
    """

    def __init__(self, step: TrainStep, warmup: int = 3) -> None:
        self.step = step
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False
        self._stream: torch.cuda.Stream | None = None

    def __call__(self, real: Tensor, noise: Tensor | None = None) -> Tensor:
        G = self.step.generator
        if noise is None:
            noise = G.sample_noise(real.shape[0], real.device)
        self.calls += 1
        if self.eager:
            return self.step(real, noise)
        if self.graph is not None:
            self.static_real.copy_(real)
            self.static_noise.copy_(noise)
            self.graph.replay()
            return self.static_losses
        if self.calls <= self.warmup:
            return self._side_stream(real, noise)
        try:
            return self._capture(real, noise)
        except Exception as exc:  # an op that cannot be captured: fall back, do not crash
            import warnings

            warnings.warn(f"CUDA graph capture failed ({type(exc).__name__}: {exc}); "
                          "training eagerly", stacklevel=2)
            self.eager, self.graph = True, None
            return self.step(real, noise)

    def _side_stream(self, real: Tensor, noise: Tensor) -> Tensor:
        if self._stream is None:
            self._stream = torch.cuda.Stream(real.device)
        self._stream.wait_stream(torch.cuda.current_stream(real.device))
        with torch.cuda.stream(self._stream):
            losses = self.step(real, noise)
        torch.cuda.current_stream(real.device).wait_stream(self._stream)
        return losses

    def _capture(self, real: Tensor, noise: Tensor) -> Tensor:
        self.static_real = real.clone()
        self.static_noise = noise.clone()
        torch.cuda.synchronize(real.device)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_losses = self.step(self.static_real, self.static_noise)
        self.graph = graph
        graph.replay()  # capture records without running: now train on this batch
        return self.static_losses
