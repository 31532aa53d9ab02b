"""K GANs in one step: every member's weights stacked on a leading axis, one vectorised
update for all of them.

Each network of the K members becomes one :class:`StackedModule`, whose parameters are
``[K, ...]`` leaves; ``torch.func.functional_call`` under ``vmap`` runs the network (and the
objective's losses and hooks) for every member at once. Members never mix: each has its own
weights, batch and noise, and the sum of the members' losses that is back-propagated gives
each member exactly its own gradient. One optimiser per side steps all members' leaves
together, which for an elementwise optimiser (Adam, RMSprop, SGD) is each member's own
update. Swept learning rates and betas make each member a parameter group of its own
(:class:`PerMember`); a swept number of the objective (a loss weight) becomes a ``[K]``
tensor whose slice each member's losses and hooks read (:func:`member_numbers`).

A matrix is stored transposed (``[K, in, out]``) and handed to the module as a transposed
view: a batched matmul's weight gradient comes out in that layout, so autograd keeps it
without a copy (a copy per weight per step is a large share of a small model's step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..core.build import Components
from ..core.context import Batch, DOutput, Models, StepContext, Updates
from ..core.errors import ConfigError
from ..core.interfaces import ComponentRef, Network, Objective, Preset
from .rng import MemberRNG
from .step import TrainStep, optimizer_over


def _stored(stacked: Tensor) -> Tensor:
    """How a stacked parameter is kept: a stack of matrices transposed."""
    return stacked.transpose(1, 2).contiguous() if stacked.ndim == 3 else stacked


def _as_module(stored: Tensor) -> Tensor:
    """The module's layout (a view) of a stored parameter."""
    return stored.transpose(1, 2) if stored.ndim == 3 else stored


def _stacked(members: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The members' tensors stacked by name. (Not ``stack_module_state``, which asks for
    one class: a parametrised module's class is made anew for each instance.)"""
    first = members[0]
    for other in members[1:]:
        if other.keys() != first.keys() or any(other[n].shape != t.shape
                                               for n, t in first.items()):
            raise ConfigError("a population's members must be built alike (the same tensor "
                              "names and shapes); these differ")
    return {name: torch.stack([m[name].detach() for m in members]) for name in first}


def _key(name: str) -> str:  # parameter names may not hold dots
    return name.replace(".", "__")


class StackedModule(nn.Module):
    """K same-shaped modules as one: ``[K, ...]`` parameters and buffers, called on inputs
    with a leading member axis. Other attributes (``num_classes``, ``z_dim``, ...) are the
    first member's; its ``state_dict`` is the members' own, stacked."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        object.__setattr__(self, "template", members[0])  # not a submodule: its tensors are unused
        params = _stacked([dict(m.named_parameters()) for m in members])
        buffers = _stacked([dict(m.named_buffers()) for m in members])
        self.names = list(params)
        self.buffer_names = list(buffers)
        # straight into the tables: register_* would refuse a name the template answers
        # (a bare nn.Linear's "weight"), as this module's attributes fall back to its own
        for name, value in params.items():
            wanted = members[0].get_parameter(name).requires_grad
            self._parameters[_key(name)] = nn.Parameter(_stored(value), requires_grad=wanted)
        for name, value in buffers.items():
            self._buffers[_key(name)] = value
        self.size = len(members)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "template"), name)

    def tensors(self) -> dict[str, Tensor]:
        """{the module's name: [K, ...] tensor in the module's layout}, parameters and
        buffers."""
        found = {n: _as_module(self.get_parameter(_key(n))) for n in self.names}
        found.update({n: self.get_buffer(_key(n)) for n in self.buffer_names})
        return found

    def bound(self, tensors: dict[str, Tensor]) -> Bound:
        """The module as one member sees it inside ``vmap`` (``tensors``: its slices)."""
        return Bound(self.template, tensors)

    vectorised = True  # False: the members run one after another (see PopulationStep)
    rng: MemberRNG | None = None

    def forward(self, *args: Tensor, **kwargs) -> Tensor:
        """Every member on its own slice of ``args`` (each ``[K, ...]``)."""
        return per_member(lambda t, *a: functional_call(self.template, t, a, kwargs),
                          (0,) * (len(args) + 1), (self.tensors(), *args), self.vectorised,
                          self.rng)

    def member(self, i: int) -> dict[str, Tensor]:
        """Member ``i``'s state dict, as its own module would hold it."""
        return {n: t[i].detach().clone().contiguous() for n, t in self.tensors().items()}

    def state_dict(self, *args, **kwargs) -> dict[str, Tensor]:  # the members', stacked
        return {n: t.detach() for n, t in self.tensors().items()}

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        tensors = self.tensors()
        missing = sorted(tensors.keys() - state_dict.keys())
        unexpected = sorted(state_dict.keys() - tensors.keys())
        if missing or unexpected:
            raise RuntimeError(f"Missing key(s) {missing}, unexpected key(s) {unexpected}")
        with torch.no_grad():
            for n, t in tensors.items():
                if state_dict[n].shape != t.shape:
                    raise RuntimeError(f"size mismatch for {n}: {tuple(state_dict[n].shape)} "
                                       f"vs {tuple(t.shape)}")
                t.copy_(state_dict[n])
        return None


def per_member(fn, in_dims: tuple, args: tuple, vectorised: bool = True,
               rng: MemberRNG | None = None):
    """``fn`` for every member: under ``vmap``, or (``vectorised=False``) in a loop over the
    members' slices with the results stacked -- the same values, for code vmap cannot run;
    there each member's random draws come from its own stream in ``rng``, as in its solo
    run. ``in_dims`` is 0 (a leading member axis) or None (shared) for each argument."""
    if vectorised:
        return vmap(fn, in_dims=in_dims, randomness="different")(*args)
    size = next(leaf for a, d in zip(args, in_dims, strict=True) if d == 0
                for leaf in _leaves(a)).shape[0]

    def one(i: int):
        return fn(*(_slice(a, i) if d == 0 else a for a, d in zip(args, in_dims, strict=True)))

    return _stack(rng.each(one) if rng is not None else [one(i) for i in range(size)])


def _leaves(x) -> Iterator[Tensor]:
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        for v in x:
            yield from _leaves(v)
    elif x is not None:
        yield x


def _slice(x, i: int):
    if isinstance(x, dict):
        return {k: _slice(v, i) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_slice(v, i) for v in x)
    return None if x is None else x[i]


def _stack(outs: list):
    first = outs[0]
    if isinstance(first, dict):
        return {k: _stack([o[k] for o in outs]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_stack(list(parts)) for parts in zip(*outs, strict=True))
    return torch.stack(outs)


class Bound:
    """A module run with one member's tensors (inside ``vmap``): callable like the module,
    its attributes the module's, its parameters the member's."""

    def __init__(self, module: nn.Module, tensors: dict[str, Tensor]) -> None:
        self._module, self._tensors = module, tensors

    def __call__(self, *args, **kwargs):
        return functional_call(self._module, self._tensors, args, kwargs)

    def __getattr__(self, name: str):
        return getattr(self._module, name)

    def parameters(self) -> Iterator[Tensor]:
        names = dict(self._module.named_parameters())
        return (t for n, t in self._tensors.items() if n in names)


class PopulationStep(TrainStep):
    """The :class:`TrainStep` of K members at once: inputs and losses gain a leading member
    axis (``real`` ``[K, n_critic x B, ...]``, ``noise`` ``[K, n_critic x B, z]``; returns
    ``[K, 2]``).

    Built from the members' components (each as its solo run builds them) and presets: their
    models, networks and state stacked, one optimiser per side over the stacked leaves (a
    parameter group per member where their rates or betas differ, :class:`PerMember`). The
    update, the optimisers, schedules, EMA and checkpoint contents are the single step's;
    only the objective's losses and hooks run per member, under ``vmap``.
    """

    batch_dim = 1

    def __init__(self, members: Sequence[Components], presets: Sequence[Preset], *,
                 capturable: bool = False) -> None:
        first = members[0]
        stacked = dataclasses.replace(
            first, generator=StackedModule([m.generator for m in members]),
            discriminator=StackedModule([m.discriminator for m in members]),
            networks={name: Network(net.side, StackedModule([m.networks[name].module
                                                             for m in members]))
                      for name, net in first.networks.items()},
            state={name: torch.stack([m.state[name] for m in members]) for name in first.state})
        self._hypers = [_hyper(p.train) for p in presets]  # each member's (lr_g, lr_d, betas)
        super().__init__(stacked, presets[0], capturable=capturable)
        self.frozen: dict[int, list[Tensor]] = {}  # member -> its tensors when it was frozen
        device = next(iter(self.generator.tensors().values())).device
        # the objective's swept numbers, [K] each, fp32 as the losses compute
        self.numbers = {name: torch.tensor(values, device=device)
                        for name, values in member_numbers([m.loss for m in members]).items()}
        self.vectorised, self.rng = True, None

    def _optimizer(self, side: str, ref: ComponentRef | None, lr: float,
                   betas: tuple[float, float], capturable: bool):
        if len(set(self._hypers)) == 1:
            return super()._optimizer(side, ref, lr, betas, capturable)
        groups = [{"lr": lr_g if side == "g" else lr_d, "betas": (b1, b2)}
                  for lr_g, lr_d, b1, b2 in self._hypers]

        def build(groups: list[dict]):
            return optimizer_over(ref, groups, groups[0]["lr"], groups[0]["betas"], capturable)

        return PerMember(build, list(self.side_parameters(side)), groups)

    def run_members_in_turn(self, rng: MemberRNG | None = None) -> None:
        """For components ``vmap`` cannot run: the same step, member after member, each
        drawing from its stream in ``rng``."""
        self.vectorised, self.rng = False, rng
        for net in (self.generator, self.discriminator, *self.networks.values()):
            net.vectorised, net.rng = False, rng

    def member_lr(self, side: str, i: int) -> float:
        """Member ``i``'s learning rate on ``side``: its own group's where the members'
        rates differ (:class:`PerMember`), else the one group's."""
        groups = self.optimizer(side).param_groups
        return groups[i if isinstance(self.optimizer(side), PerMember) else 0]["lr"]

    def freeze(self, i: int) -> None:
        """Keep member ``i`` as it is now: every later step puts its weights back."""
        self.frozen[i] = [t[i].detach().clone() for t in self._member_tensors()]

    def _member_tensors(self) -> list[Tensor]:
        nets = [self.generator, self.discriminator, *self.networks.values(),
                *([self.ema] if self.ema is not None else [])]
        return [t for net in nets for t in net.tensors().values()] + list(self.state.values())

    def __call__(self, real: Tensor, labels: Tensor | None = None,
                 noise: Tensor | None = None) -> Tensor:
        if noise is None or real.ndim < 3:
            raise ConfigError("a population step takes [K, batch, ...] images and noise")
        return super().__call__(real, labels, noise)

    def _loss(self, update: str, batch: Batch, counts: Updates
              ) -> tuple[Tensor, Callable[[], None]]:
        """Every member's loss ``[K]``, and the objective's hook after the update run per
        member too, reading D's outputs from before the update as the single step's does."""
        # G ran already; a loss may run it again (ctx.g)
        nets = {"generator": self.generator, "discriminator": self.discriminator,
                **self.networks}
        member = _MemberUpdate(self, update, nets, counts)
        fields = (batch.real, batch.labels, batch.noise, batch.fake)
        dims = (0, 0, 0, *(None if t is None else 0 for t in fields))
        # views taken now: in G's update D is frozen, so none of D's weight gradients are
        # computed
        tensors = {name: net.tensors() for name, net in nets.items()}
        args = (self.numbers, tensors, self.state, *fields)
        losses, seen = per_member(member.loss, dims, args, self.vectorised, self.rng)

        def after() -> None:
            if member.hooked:
                per_member(member.after, (0, *dims), (seen, *args), self.vectorised, self.rng)

        return losses, after

    def _after_step(self) -> None:
        super()._after_step()
        if self.frozen:  # put the frozen members back as they were
            with torch.no_grad():
                tensors = self._member_tensors()
                for i, saved in self.frozen.items():
                    for t, value in zip(tensors, saved, strict=True):
                        t[i].copy_(value)


class _MemberUpdate:
    """One member's part of a population's G or D update, as ``vmap`` runs it (its slices
    of the weights, state and batch): its context, its loss, the objective's hook after."""

    def __init__(self, step: PopulationStep, update: str, nets: dict[str, StackedModule],
                 counts: Updates) -> None:
        self.step, self.update, self.nets, self.counts = step, update, nets, counts
        objective = step.objective
        self.hook = objective.after_d_update  # only D's update has a hook after it
        self.hooked = update == "d" and getattr(self.hook, "__func__", None) is not \
            Objective.after_d_update

    def context(self, tensors, state, real, labels, noise, fake, outputs=(None, None)
                ) -> StepContext:
        step = self.step
        bound = {name: self.nets[name].bound(t) for name, t in tensors.items()}
        G, D = bound.pop("generator"), bound.pop("discriminator")
        return StepContext(self.update, Batch(real, labels, noise, fake),
                           Models(D, D, step.augment, step.precision, G), nets=bound,
                           state=state, updates=self.counts, outputs=outputs)

    def loss(self, numbers, *args):
        """The member's loss, and D's outputs it saw (for the hook, if there is one)."""
        ctx = self.context(*args)
        objective = self.step.objective
        with _Numbers(self.step.loss, numbers):
            value = objective.d_loss(ctx) if self.update == "d" else objective.g_loss(ctx)
        seen = [{} if out is None or not self.hooked else
                {k: v.detach() for k, v in out.fields().items()} for out in ctx.computed()]
        return value, seen

    def after(self, seen, numbers, *args):
        """The objective's hook after the update, reading D's outputs from before it."""
        ctx = self.context(*args, outputs=tuple(DOutput(**f) if f else None for f in seen))
        with _Numbers(self.step.loss, numbers):
            self.hook(ctx)
        return args[2].new_zeros(())  # vmap needs an output


class PerMember:
    """One optimiser over stacked leaves whose members' hyper-parameters differ: member k is
    a parameter group of its own slices of the leaves, with its own lr and betas, so its
    update is the optimiser's own for those settings. ``param_groups``, ``state_dict`` and
    ``load_state_dict`` are the inner optimiser's (one group per member)."""

    def __init__(self, build, leaves: list[Tensor], groups: list[dict]) -> None:
        self.leaves = leaves
        with torch.no_grad():  # plain views: the optimiser writes through them into the leaves
            self.views = [[leaf[k] for leaf in leaves] for k in range(len(groups))]
        self.inner = build([{"params": views, **g} for views, g in zip(self.views, groups,
                                                                        strict=True)])

    @property
    def param_groups(self) -> list[dict]:
        return self.inner.param_groups

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.inner.load_state_dict(state_dict)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for leaf in self.leaves:
            leaf.grad = None

    def step(self) -> None:
        for k, views in enumerate(self.views):
            for leaf, view in zip(self.leaves, views, strict=True):
                view.grad = None if leaf.grad is None else leaf.grad[k]
        self.inner.step()


SWEEPABLE = ("seed", "lr_g", "lr_d", "beta1", "beta2")  # what may differ inside one population
LOSS_SWEEP = "loss."  # and the objective's numbers: ``loss.weight`` (WGAN-GP's lambda), ...


def member_numbers(objectives: Sequence[object]) -> dict[str, list[float]]:
    """The numeric attributes in which the members' objectives differ (a swept loss
    weight): ``{attribute: [member 0's value, ...]}``. Networks and tensors (each member's
    own state) are not compared; any other difference cannot be given per member."""
    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    differ = {}
    first = vars(objectives[0])
    for name, value in first.items():
        if isinstance(value, (nn.Module, Tensor)) or callable(value):
            continue
        values = [vars(o).get(name) for o in objectives]
        if all(v == value for v in values):
            continue
        if not all(number(v) for v in values):
            raise ConfigError(f"the members' objectives differ in {name!r} ({values[0]!r}, "
                              f"{values[1]!r}, ...), which is not a number: a population "
                              "can give each member its own number only")
        differ[name] = [float(v) for v in values]
    return differ


class _Numbers:
    """Sets the objective's swept numbers to one member's values (0-dim tensors: under
    ``vmap``, that member's slice) while its code runs."""

    def __init__(self, owner: object, values: dict[str, Tensor]) -> None:
        self.owner, self.values = owner, values

    def __enter__(self) -> None:
        self.kept = {name: getattr(self.owner, name) for name in self.values}
        for name, value in self.values.items():
            setattr(self.owner, name, value)

    def __exit__(self, *exc) -> None:
        for name, value in self.kept.items():
            setattr(self.owner, name, value)


def _hyper(settings) -> tuple:
    return settings.lr_g, settings.lr_d, settings.beta1, settings.beta2
