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
from collections.abc import Iterator

import torch
from torch import Tensor

from ..core.build import Components, build_optimizer
from ..core.errors import ConfigError
from ..core.interfaces import (
    Augment,
    ComponentRef,
    Discriminator,
    GANLoss,
    Generator,
    Objective,
    Preset,
    Schedule,
    TrainSettings,
    as_objective,
)
from . import checkpoint
from .context import Networks, StepContext
from .distributed import average_over_ranks
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

    The objective's own ``networks`` ({name: (side, module)}) train with G's or D's
    optimiser as their side says; its ``state`` tensors persist from step to step.
    """

    def __init__(self, generator: Generator, discriminator: Discriminator,
                 loss: GANLoss | Objective,
                 opt_g: torch.optim.Optimizer | None, opt_d: torch.optim.Optimizer | None,
                 precision: str = "fp32", n_critic: int = 1,
                 ema: Generator | None = None, ema_decay: float = 0.0,
                 augment: Augment | None = None,
                 networks: dict[str, tuple[str, torch.nn.Module]] | None = None,
                 state: dict[str, Tensor] | None = None,
                 schedules: dict[str, Schedule] | None = None) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}; choose from "
                              f"{', '.join(PRECISIONS)}")
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.objective = as_objective(loss)
        self.opt_g = opt_g
        self.opt_d = opt_d
        self.precision = precision
        self.n_critic = n_critic
        self.conditional = bool(generator.num_classes)  # G is given the real batch's labels
        self.d_conditional = bool(discriminator.num_classes)
        self.ema = ema
        self.ema_decay = ema_decay
        self.augment = augment
        self.call_g: torch.nn.Module = generator
        self.call_d: torch.nn.Module = discriminator
        networks = networks or {}
        self.networks = {name: module for name, (_, module) in networks.items()}
        self.sides = {name: side for name, (side, _) in networks.items()}
        self.call_nets: dict[str, torch.nn.Module] = {}  # their DDP wrappers, when distributed
        self.state = dict(state or {})
        self.schedules = dict(schedules or {})  # "g", "d": the learning-rate schedules named
        self.steps = 0  # G updates done: the context's step index
        self.ranks = 1  # processes training together; > 1 averages float state over them
        # D's trained weights (and its side's networks'), switched off in G updates (a frozen
        # one stays frozen); a list is faster to walk each step than D.requires_grad_
        self._d_params = tuple(p for p in self.side_parameters("d") if p.requires_grad)

    @classmethod
    def create(cls, generator: Generator, discriminator: Discriminator,
               loss: GANLoss | Objective, settings: TrainSettings, precision: str = "fp32",
               capturable: bool = False, optimizer_g: ComponentRef | None = None,
               optimizer_d: ComponentRef | None = None,
               augment: Augment | None = None,
               networks: dict[str, tuple[str, torch.nn.Module]] | None = None,
               state: dict[str, Tensor] | None = None,
               schedules: dict[str, Schedule] | None = None) -> TrainStep:
        """A step with the named registered optimizers (None: fused Adam), ``n_critic`` and
        the EMA from the preset's settings; each of the objective's ``networks`` joins the
        optimiser of its side; ``schedules`` scale the rates epoch by epoch."""
        betas = (settings.beta1, settings.beta2)
        ema = copy.deepcopy(generator).requires_grad_(False) if settings.ema else None
        # the optimisers come after the step: a network's side decides which one it joins
        step = cls(generator, discriminator, loss, None, None, precision, settings.n_critic,
                   ema, settings.ema, augment, networks, state, schedules)

        def optimizer(ref: ComponentRef | None, side: str, lr: float):
            params = list(step.side_parameters(side))
            if ref is None:
                return adam(params, lr, betas, capturable)
            return build_optimizer(ref, params, lr=lr, betas=betas, capturable=capturable)

        step.opt_g = optimizer(optimizer_g, "g", settings.lr_g)
        step.opt_d = optimizer(optimizer_d, "d", settings.lr_d)
        for side in step.schedules:  # the rate a schedule scales (saved with the groups)
            for group in step.optimizer(side).param_groups:
                group.setdefault("initial_lr", group["lr"])
        return step

    @classmethod
    def from_parts(cls, parts: Components, preset: Preset, precision: str = "fp32",
                   capturable: bool = False) -> TrainStep:
        """The step ``ganzoo train`` runs for a preset's built components."""
        return cls.create(parts.generator, parts.discriminator, parts.loss, preset.train,
                          precision, capturable, optimizer_g=preset.optimizer_g,
                          optimizer_d=preset.optimizer_d, augment=parts.augment,
                          networks=parts.networks, state=parts.state,
                          schedules=parts.schedules)

    def distribute(self, wrap, ranks: int) -> None:
        """Train as one of ``ranks`` processes: the first forward pass of each update goes
        through ``wrap(module)`` (DDP, which averages gradients over the ranks)."""
        self.call_g, self.call_d = wrap(self.generator), wrap(self.discriminator)
        self.call_nets = {name: wrap(module) for name, module in self.networks.items()}
        self.ranks = ranks

    def optimizer(self, side: str) -> torch.optim.Optimizer:
        return self.opt_g if side == "g" else self.opt_d

    def schedule_rates(self, epoch: int, epochs: int) -> bool:
        """Set the scheduled learning rates for ``epoch``; True when one changed."""
        changed = False
        for side, schedule in self.schedules.items():
            factor = schedule.factor(epoch, epochs)
            if not (isinstance(factor, (int, float)) and 0 <= factor < float("inf")):
                raise ConfigError(f"the learning-rate schedule of {side.upper()} "
                                  f"({type(schedule).__name__}) gave factor {factor!r} for "
                                  f"epoch {epoch}; expected a number >= 0")
            for group in self.optimizer(side).param_groups:
                lr = group["initial_lr"] * factor
                changed, group["lr"] = changed or lr != group["lr"], lr
        return changed

    def side_parameters(self, side: str) -> Iterator[torch.nn.Parameter]:
        """G's or D's parameters, then those of the objective's networks on that side."""
        yield from (self.generator if side == "g" else self.discriminator).parameters()
        for name, module in self.networks.items():
            if self.sides[name] == side:
                yield from module.parameters()

    def checkpointed(self) -> dict:
        """What a training checkpoint holds of this step, as ``checkpoint.save_training``
        takes it."""
        return {**self._live(), "updates": self.steps}

    def restore(self, ckpt: checkpoint.Checkpoint) -> None:
        """Load a training checkpoint into the models, optimisers, networks and state."""
        checkpoint.restore_training(ckpt, **self._live())
        self.steps = ckpt.updates

    def _live(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator,
                "opt_g": self.opt_g, "opt_d": self.opt_d, "ema": self.ema,
                "networks": self.networks, "state": self.state}

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
            asked = None if labels is None else labels[part]
            g_cond = (asked,) if self.conditional else ()
            last = i == self.n_critic - 1
            # only the last fakes train G
            with torch.set_grad_enabled(last), self._autocast(real.device):
                fake = self.call_g(noise[part], *g_cond)
            losses_d.append(self._update_d(self._context("d", real[part], asked, noise[part],
                                                         fake.detach().to(real.dtype))))
        loss_g = self._update_g(self._context("g", real[part], asked, noise[part], fake))
        if self.ema is not None:
            self._update_ema()
        if self.ranks > 1 and self.state:
            average_over_ranks([t for t in self.state.values() if t.is_floating_point()])
        self.steps += 1
        loss_d = losses_d[0] if self.n_critic == 1 else torch.stack(losses_d).mean()
        return torch.stack([loss_d, loss_g]).detach()

    def _context(self, update: str, real: Tensor, labels: Tensor | None, noise: Tensor,
                 fake: Tensor) -> StepContext:
        d_cond = (labels,) if self.d_conditional else ()
        nets = self.networks and Networks(self.networks, self.call_nets,
                                          {n for n, side in self.sides.items() if side == update})
        return StepContext(update, real, labels, noise, fake, generator=self.generator,
                           discriminator=self.discriminator, call_d=self.call_d,
                           d_cond=d_cond, autocast=lambda: self._autocast(real.device),
                           augment=self.augment, nets=nets, state=self.state, step=self.steps)

    def _update_d(self, ctx: StepContext) -> Tensor:
        loss_d = self.objective.d_loss(ctx)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.objective.after_d_update(ctx)
        return loss_d

    def _update_g(self, ctx: StepContext) -> Tensor:
        self._d_requires_grad(False)  # only G is updated: skip D's weight gradients
        try:
            loss_g = self.objective.g_loss(ctx)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            self._d_requires_grad(True)
        self.objective.after_g_update(ctx)
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
    into static buffers and replays, with no host sync. It captures whatever step it wraps
    (a run's or a population's) and knows nothing of their shapes; :meth:`recapture` is the
    one way to capture again after a change the graph would not replay. Every batch is
    trained on exactly once. The optimisers must be capturable (``TrainStep.create(...,
    capturable=True)``). If capture fails, the step warns once and stays eager.
    """

    def __init__(self, step: TrainStep, warmup: int = 3) -> None:
        self.step = step
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager = False
        self._stream: torch.cuda.Stream | None = None

    def __call__(self, real: Tensor, labels: Tensor, noise: Tensor) -> Tensor:
        """Train on one batch: its images, labels (a captured graph holds no None: pass the
        batch's labels even for an unconditional model) and noise."""
        inputs = (real, labels, noise)
        self.calls += 1
        if self.eager:
            return self.step(*inputs)
        if self.graph is not None:
            for static, given in zip(self.static_inputs, inputs, strict=True):
                static.copy_(given)
            self.graph.replay()
            self.step.steps += 1
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

    def recapture(self) -> None:
        """Capture the step afresh on the next call: for a change the graph would not
        replay (a new learning rate, a population member frozen since the capture)."""
        if self.graph is not None:
            self.graph, self.calls = None, self.warmup

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


def recapture(replay: TrainStep | CudaGraphStep) -> None:
    """After a change a captured graph would not replay (a new learning rate, a frozen
    member, weights reloaded): capture it again; an eager step needs nothing."""
    if isinstance(replay, CudaGraphStep):
        replay.recapture()
