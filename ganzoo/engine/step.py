"""One training step: ``n_critic`` discriminator updates (usually one), then a generator update.

The tutorial's math without its waste: G(z) is computed once per D update; D sees real and
(detached) fake images in one forward pass (two when its batch statistics would mix them);
the G step re-runs D on the last fake batch after D's update, with D's parameter gradients
switched off since only G is updated. A class-conditional G and D get the real batch's
labels. Under ``precision="bf16"`` the forward passes run in bfloat16 autocast while the
losses, the weights and the optimiser state stay in float32.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import Tensor

from ..core.errors import ConfigError
from ..core.interfaces import Discriminator, GANLoss, Generator, TrainSettings
from .optim import adam

PRECISIONS = ("fp32", "bf16")


class TrainStep:
    """``n_critic`` discriminator updates, each on its own slice of the batch, then one
    generator update; optionally an EMA of the generator's weights after it.

    ``call_g`` and ``call_d`` are what the first forward pass of each update goes through:
    the models themselves, or their DDP wrappers in a distributed run (which average the
    gradients over all ranks in the backward pass). Further passes in the same update
    (a regularizer's, D in the G update) use the bare models, as DDP allows one forward
    per backward; their gradients still reach the parameters the wrapper reduces.
    """

    def __init__(self, generator: Generator, discriminator: Discriminator, loss: GANLoss,
                 opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                 precision: str = "fp32", n_critic: int = 1,
                 ema: Generator | None = None, ema_decay: float = 0.0) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}; choose from "
                              f"{', '.join(PRECISIONS)}")
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.opt_g = opt_g
        self.opt_d = opt_d
        self.precision = precision
        self.n_critic = n_critic
        self.conditional = bool(generator.num_classes)
        self.ema = ema
        self.ema_decay = ema_decay
        self.call_g: torch.nn.Module = generator
        self.call_d: torch.nn.Module = discriminator
        # D's trained weights, switched off in G updates (a frozen one stays frozen); a
        # list is faster to walk each step than D.requires_grad_, which walks the modules
        self._d_params = tuple(p for p in discriminator.parameters() if p.requires_grad)

    @classmethod
    def create(cls, generator: Generator, discriminator: Discriminator, loss: GANLoss,
               settings: TrainSettings, precision: str = "fp32",
               capturable: bool = False) -> TrainStep:
        """A step with Adam optimisers, ``n_critic`` and the EMA from the preset's settings."""
        betas = (settings.beta1, settings.beta2)
        opt_g = adam(generator.parameters(), settings.lr_g, betas, capturable)
        opt_d = adam(discriminator.parameters(), settings.lr_d, betas, capturable)
        ema = copy.deepcopy(generator).requires_grad_(False) if settings.ema else None
        return cls(generator, discriminator, loss, opt_g, opt_d, precision, settings.n_critic,
                   ema, settings.ema)

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def __call__(self, real: Tensor, labels: Tensor | None = None,
                 noise: Tensor | None = None) -> Tensor:
        """Train on one real batch of ``n_critic`` x batch-size images (and their labels,
        used when the models are class-conditional); returns ``[loss_d, loss_g]`` on the
        device, loss_d averaged over the D updates (no host sync).

        ``noise`` (one row per image) defaults to fresh draws from the generator's prior.
        """
        G = self.generator
        if noise is None:
            noise = G.sample_noise(real.shape[0], real.device)
        if self.conditional and labels is None:
            raise ConfigError("a class-conditional generator needs the batch's labels")
        n = real.shape[0] // self.n_critic
        losses_d = []
        for i in range(self.n_critic):
            part = slice(i * n, (i + 1) * n)
            cond = (labels[part],) if self.conditional else ()
            last = i == self.n_critic - 1
            # only the last fakes train G
            with torch.set_grad_enabled(last), self._autocast(real.device):
                fake = self.call_g(noise[part], *cond)
            losses_d.append(self._update_d(real[part], fake.detach(), cond))
        loss_g = self._update_g(fake, cond)
        if self.ema is not None:
            self._update_ema()
        loss_d = losses_d[0] if self.n_critic == 1 else torch.stack(losses_d).mean()
        return torch.stack([loss_d, loss_g]).detach()

    def _update_d(self, real: Tensor, fake: Tensor, cond: tuple) -> Tensor:
        D, loss = self.discriminator, self.loss
        fake = fake.to(real.dtype)
        with self._autocast(real.device):
            if D.batch_dependent:
                real_logits = self.call_d(real, *cond).float()
                fake_logits = D(fake, *cond).float()
            else:
                both = tuple(torch.cat([c, c]) for c in cond)
                logits = self.call_d(torch.cat([real, fake]), *both).float()
                real_logits, fake_logits = logits.split(real.shape[0])
        loss_d = loss.discriminator_loss(real_logits, fake_logits)
        reg = loss.discriminator_regularizer(lambda x: D(x, *cond).float(), real, fake.float())
        total_d = loss_d if reg is None else loss_d + reg
        self.opt_d.zero_grad(set_to_none=True)
        total_d.backward()
        self.opt_d.step()
        return loss_d

    def _update_g(self, fake: Tensor, cond: tuple) -> Tensor:
        D = self.discriminator
        self._d_requires_grad(False)  # only G is updated: skip D's weight gradients
        try:
            with self._autocast(fake.device):
                fake_logits = D(fake, *cond).float()
            loss_g = self.loss.generator_loss(fake_logits)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            self._d_requires_grad(True)
        return loss_g

    def _d_requires_grad(self, on: bool) -> None:
        for p in self._d_params:
            p.requires_grad_(on)

    @torch.no_grad()
    def _update_ema(self) -> None:
        live, ema = self.generator, self.ema
        torch._foreach_lerp_(list(ema.parameters()), list(live.parameters()),
                             1 - self.ema_decay)
        for mine, theirs in zip(ema.buffers(), live.buffers(), strict=True):
            mine.copy_(theirs)  # e.g. batch-norm statistics: follow the live generator


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

    def __call__(self, real: Tensor, labels: Tensor | None = None,
                 noise: Tensor | None = None) -> Tensor:
        G = self.step.generator
        if noise is None:
            noise = G.sample_noise(real.shape[0], real.device)
        if labels is None:  # a fixed stand-in keeps the captured inputs the same
            labels = torch.zeros(real.shape[0], dtype=torch.long, device=real.device)
        inputs = (real, labels, noise)
        self.calls += 1
        if self.eager:
            return self.step(*inputs)
        if self.graph is not None:
            for static, given in zip(self.static_inputs, inputs, strict=True):
                static.copy_(given)
            self.graph.replay()
            return self.static_losses
        if self.calls <= self.warmup:
            return self._side_stream(inputs)
        try:
            return self._capture(inputs)
        except Exception as exc:  # an op that cannot be captured: fall back, do not crash
            import warnings

            warnings.warn(f"CUDA graph capture failed ({type(exc).__name__}: {exc}); "
                          "training eagerly", stacklevel=2)
            self.eager, self.graph = True, None
            return self.step(*inputs)

    def _side_stream(self, inputs: tuple[Tensor, ...]) -> Tensor:
        device = inputs[0].device
        if self._stream is None:
            self._stream = torch.cuda.Stream(device)
        self._stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(self._stream):
            losses = self.step(*inputs)
        torch.cuda.current_stream(device).wait_stream(self._stream)
        return losses

    def _capture(self, inputs: tuple[Tensor, ...]) -> Tensor:
        self.static_inputs = tuple(t.clone() for t in inputs)
        torch.cuda.synchronize(inputs[0].device)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_losses = self.step(*self.static_inputs)
        self.graph = graph
        graph.replay()  # capture records without running: now train on this batch
        return self.static_losses
