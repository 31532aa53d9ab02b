"""One training step: ``n_critic`` discriminator updates (usually one), then a generator update.

The tutorial's math without its waste: G(z) is computed once per D update; D sees real and
(detached) fake images in one forward pass (two when its batch statistics would mix them);
the G step re-runs D on the last fake batch after D's update, with D's parameter gradients
switched off since only G is updated. A class-conditional G and D get the real batch's
labels. Under ``precision="bf16"`` the forward passes run in bfloat16 autocast while the
losses, the weights and the optimiser state stay in float32.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from ..core.build import Components, build_optimizer
from ..core.context import Batch, Models, Networks, StepContext, Updates, autocast, check_precision
from ..core.errors import ConfigError
from ..core.interfaces import ComponentRef, Preset, as_objective
from . import checkpoint
from .distributed import average_over_ranks
from .optim import adam


class TrainStep:
    """``n_critic`` discriminator updates, each on its own slice of the batch, then one
    generator update; optionally an EMA of the generator's weights after it.

    Built whole from a preset's components and settings: its optimisers (the preset's
    registered ones; none named: fused Adam), ``n_critic``, the EMA and the schedules that
    scale the rates epoch by epoch. The objective's own ``networks`` ({name: (side,
    module)}) train with G's or D's optimiser as their side says; its ``state`` tensors
    persist from step to step.

    ``call_g`` and ``call_d`` are what the first forward pass of each update goes through:
    the models themselves, or their DDP wrappers in a distributed run (which average the
    gradients over all ranks in the backward pass). Further passes in the same update
    (a regularizer's, D in the G update) use the bare models, as DDP allows one forward
    per backward; their gradients still reach the parameters the wrapper reduces.

    :class:`~ganzoo.engine.population.PopulationStep` is this step with a member axis:
    it changes only how an update's loss is computed (per member) and what follows a step.
    """

    batch_dim = 0  # the images' axis in a batch (a population's batches lead with members)

    def __init__(self, parts: Components, preset: Preset, *, precision: str = "fp32",
                 capturable: bool = False) -> None:
        check_precision(precision)
        settings = preset.train
        self.generator, self.discriminator = parts.generator, parts.discriminator
        self.loss, self.objective = parts.loss, as_objective(parts.loss)
        self.precision, self.n_critic = precision, settings.n_critic
        self.conditional = bool(self.generator.num_classes)  # G gets the real batch's labels
        self.translates = bool(self.generator.translates)  # G gets the real batch itself
        self.ema_decay = settings.ema
        self.ema = copy.deepcopy(self.generator).requires_grad_(False) if settings.ema else None
        self.augment = parts.augment
        self.networks = {name: net.module for name, net in parts.networks.items()}
        self.sides = {name: net.side for name, net in parts.networks.items()}
        self.state = dict(parts.state)
        self.schedules = dict(parts.schedules)  # "g", "d": the learning-rate schedules named
        self.per_step = any(s.unit == "step" for s in self.schedules.values())
        self.updates = 0  # G updates done (steps); D updates done: n_critic times as many
        self.distribute(lambda module: module, 1)
        # D's trained weights (and its side's networks'), switched off in G updates (a frozen
        # one stays frozen); a list is faster to walk each step than D.requires_grad_
        self._d_params = tuple(p for p in self.side_parameters("d") if p.requires_grad)
        betas = (settings.beta1, settings.beta2)
        self.opt_g = self._optimizer("g", preset.optimizer_g, settings.lr_g, betas, capturable)
        self.opt_d = self._optimizer("d", preset.optimizer_d, settings.lr_d, betas, capturable)
        for side in self.schedules:  # the rate a schedule scales (saved with the groups)
            for group in self.optimizer(side).param_groups:
                group.setdefault("initial_lr", group["lr"])

    def _optimizer(self, side: str, ref: ComponentRef | None, lr: float,
                   betas: tuple[float, float], capturable: bool) -> torch.optim.Optimizer:
        return optimizer_over(ref, list(self.side_parameters(side)), lr, betas, capturable)

    def distribute(self, wrap, ranks: int) -> None:
        """Train as one of ``ranks`` processes: the first forward pass of each update goes
        through ``wrap(module)`` (DDP, which averages gradients over the ranks)."""
        self.call_g, self.call_d = wrap(self.generator), wrap(self.discriminator)
        self.call_nets = {name: wrap(module) for name, module in self.networks.items()}
        self.ranks = ranks  # > 1 averages the objective's float state over the ranks
        self._models = Models(self.discriminator, self.call_d, self.augment,
                              self.precision, self.generator)

    def optimizer(self, side: str) -> torch.optim.Optimizer:
        return self.opt_g if side == "g" else self.opt_d

    def schedule_rates(self, unit: str, t: int, total: int) -> bool:
        """Set the learning rates the schedules by ``unit`` give at ``t`` of ``total``
        (epoch of epochs, or step of steps); True when one changed."""
        changed = False
        for side, schedule in self.schedules.items():
            if schedule.unit != unit:
                continue
            factor = schedule.factor(t, total)
            if not (isinstance(factor, (int, float)) and 0 <= factor < float("inf")):
                raise ConfigError(f"the learning-rate schedule of {side.upper()} "
                                  f"({type(schedule).__name__}) gave factor {factor!r} for "
                                  f"{unit} {t}; expected a number >= 0")
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
        return {**self._live(), "updates": self.updates}

    def restore(self, ckpt: checkpoint.Checkpoint) -> None:
        """Load a training checkpoint into the models, optimisers, networks and state."""
        checkpoint.restore_training(ckpt, **self._live())
        self.updates = ckpt.updates

    def _live(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator,
                "opt_g": self.opt_g, "opt_d": self.opt_d, "ema": self.ema,
                "networks": self.networks, "state": self.state}

    def __call__(self, real: Tensor, labels: Tensor | None = None,
                 noise: Tensor | None = None) -> Tensor:
        """Train on one real batch of ``n_critic`` x batch-size images (and their labels,
        used when the models are class-conditional); returns ``[loss_d, loss_g]`` on the
        device, loss_d averaged over the D updates (no host sync).

        ``noise`` (one row per image) defaults to fresh draws from the generator's prior; a
        :class:`~ganzoo.Translator` is given ``real`` instead.
        """
        if self.translates:  # its input is the batch itself (pairs of images)
            noise = real
        elif noise is None:
            noise = self._noise(real)
        if self.conditional and labels is None:
            raise ConfigError("a class-conditional generator needs the batch's labels")
        dim = self.batch_dim
        n = real.shape[dim] // self.n_critic
        losses_d = []
        for i in range(self.n_critic):
            real_i, labels_i, noise_i = (None if t is None else t.narrow(dim, i * n, n)
                                         for t in (real, labels, noise))
            g_cond = (labels_i,) if self.conditional else ()
            last = i == self.n_critic - 1
            # only the last fakes train G
            with torch.set_grad_enabled(last), autocast(self.precision, real.device):
                fake = self.call_g(noise_i, *g_cond)
            losses_d.append(self._update("d", Batch(real_i, labels_i, noise_i,
                                                    fake.detach().to(real.dtype)),
                                         self._counts(i)))
        loss_g = self._update("g", Batch(real_i, labels_i, noise_i, fake), self._counts(0))
        self._after_step()
        self.updates += 1
        loss_d = losses_d[0] if self.n_critic == 1 else torch.stack(losses_d).mean(0)
        return torch.stack([loss_d, loss_g], -1).detach()

    def _counts(self, critic: int) -> Updates:
        """The updates before D update ``critic`` of this step (and before its G update)."""
        return Updates(self.updates, self.updates * self.n_critic + critic,
                       self.objective.lazy)

    def lazy_due(self) -> bool:
        """Whether one of the objective's lazy terms runs in the next step (which a CUDA
        graph of a step without one must not replay)."""
        d = self.updates * self.n_critic
        return any(term.due(self.updates) if term.update == "g" else
                   any(term.due(d + i) for i in range(self.n_critic))
                   for term in self.objective.lazy.values())

    def replayed(self) -> None:
        """A captured graph ran this step again: count its G update, which lives outside
        the graph."""
        self.updates += 1

    def _noise(self, real: Tensor) -> Tensor:
        return self.generator.sample_noise(real.shape[0], real.device)

    def _update(self, update: str, batch: Batch, counts: Updates) -> Tensor:
        """One update of G or D (its objective's networks with it): the loss, the optimiser's
        step, then the objective's hook after it. Returns the loss."""
        if update == "g":
            self._d_requires_grad(False)  # only G is updated: skip D's weight gradients
        try:
            loss, after = self._loss(update, batch, counts)
            opt = self.optimizer(update)
            opt.zero_grad(set_to_none=True)
            # a population's loss is its members' [K]: the sum's gradient is each one's own
            (loss if loss.ndim == 0 else loss.sum()).backward()
            opt.step()
        finally:
            if update == "g":
                self._d_requires_grad(True)
        after()
        return loss

    def _loss(self, update: str, batch: Batch, counts: Updates
              ) -> tuple[Tensor, Callable[[], None]]:
        """The objective's loss for this update, and its hook after the update."""
        nets = self.networks and Networks(self.networks, self.call_nets,
                                          {n for n, side in self.sides.items() if side == update})
        ctx = StepContext(update, batch, self._models, nets=nets, state=self.state,
                          updates=counts)
        objective = self.objective
        if update == "d":
            return objective.d_loss(ctx), lambda: objective.after_d_update(ctx)
        return objective.g_loss(ctx), _nothing

    def _after_step(self) -> None:
        """After both updates: the EMA, and the state averaged over the ranks."""
        if self.ema is not None:
            self._update_ema()
        if self.ranks > 1 and self.state:
            average_over_ranks([t for t in self.state.values() if t.is_floating_point()])

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


def optimizer_over(ref: ComponentRef | None, params: list, lr: float, betas: tuple[float, float],
                   capturable: bool) -> torch.optim.Optimizer:
    """The registered optimizer ``ref`` (None: fused Adam) over ``params`` (tensors or
    parameter groups)."""
    if ref is None:
        return adam(params, lr, betas, capturable)
    return build_optimizer(ref, params, lr=lr, betas=betas, capturable=capturable)


def _nothing() -> None:
    """What follows G's update (the objective's hooks follow D's)."""


class CudaGraphStep:
    """Replays a :class:`TrainStep` -- both updates, both optimisers -- as one CUDA graph.

    The first ``warmup`` calls run eagerly on a side stream (as capture requires); the next
    call captures the step and replays it; every later call copies the batch and fresh noise
    into static buffers and replays, with no host sync. It captures whatever step it wraps
    (a run's or a population's) and knows nothing of their shapes; :meth:`recapture` is the
    one way to capture again after a change the graph would not replay. A step in which one
    of the objective's lazy terms is due runs eagerly (the graph holds a step without one).
    Every batch is trained on exactly once. The optimisers must be capturable
    (``TrainStep(..., capturable=True)``). If capture fails, the step warns once and stays
    eager.
    """

    def __init__(self, step: TrainStep, warmup: int = 3) -> None:
        always = sorted(name for name, term in step.objective.lazy.items() if term.every == 1)
        if always:  # say so once, rather than never capturing in silence
            warnings.warn(f"the objective's lazy term {', '.join(always)} is due at every "
                          "update, so every step runs eagerly, without a CUDA graph (every=N "
                          "> 1 lets the graph replay the N - 1 steps between)", stacklevel=2)
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
        if self.eager or self.step.lazy_due():
            return self.step(*inputs)
        if self.graph is not None:
            for static, given in zip(self.static_inputs, inputs, strict=True):
                static.copy_(given)
            self.graph.replay()
            self.step.replayed()
            return self.static_losses
        if self.calls <= self.warmup:
            return self._side_stream(inputs)
        try:
            return self._capture(inputs)
        except Exception as exc:  # an op that cannot be captured: fall back, do not crash
            warnings.warn(f"CUDA graph capture failed ({type(exc).__name__}: {exc}); "
                          "training eagerly", stacklevel=2)
            self.eager, self.graph = True, None
            return self.step(*inputs)

    def recapture(self) -> None:
        """Capture the step afresh after ``warmup`` eager calls: for a change the graph
        would not replay (a new learning rate, a population member frozen since the
        capture). A rate that changes at every step (a warm-up) keeps the steps eager until
        it holds still."""
        self.graph, self.calls = None, 0

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
