"""The kinds of component a plugin registers: one table, from which the registry's hooks,
the checks of what a factory built and ``ganzoo list``'s kinds are derived."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .interfaces import (
    Augment,
    Callback,
    Dataset,
    Discriminator,
    Evaluator,
    GANLoss,
    Generator,
    Objective,
    Preset,
    Schedule,
)


@dataclass(frozen=True)
class Kind:
    name: str  # "generator": what errors and ``ganzoo list generator`` say
    plural: str  # "generators": ``ganzoo list generators``, the hook's name
    base: type | tuple[type, ...]  # what its factory must build (a preset: what is registered)
    factory: str  # how the factory is called and what it returns

    @property
    def hook(self) -> str:
        """The plugin hook that registers this kind, e.g. ``ganzoo_register_generators``."""
        return f"ganzoo_register_{self.plural}"

    @property
    def bases(self) -> str:
        """The base classes' names, for messages: "GANLoss or Objective"."""
        types = self.base if isinstance(self.base, tuple) else (self.base,)
        return " or ".join(t.__name__ for t in types)


KINDS = (
    Kind("preset", "presets", Preset,
         "``register(preset)`` with a :class:`ganzoo.Preset` (or a name and the Preset)"),
    Kind("generator", "generators", Generator, "``factory(**kwargs) -> ganzoo.Generator``"),
    Kind("discriminator", "discriminators", Discriminator,
         "``factory(**kwargs) -> ganzoo.Discriminator``"),
    Kind("loss", "losses", (GANLoss, Objective),
         "``factory(**kwargs) -> ganzoo.Objective`` (or a ``ganzoo.GANLoss``)"),
    Kind("dataset", "datasets", Dataset, "``factory(**kwargs) -> ganzoo.Dataset``"),
    Kind("evaluator", "evaluators", Evaluator,
         "``factory(in_shape, num_classes) -> ganzoo.Evaluator``"),
    Kind("callback", "callbacks", Callback, "``factory(**kwargs) -> ganzoo.Callback``"),
    Kind("optimizer", "optimizers", torch.optim.Optimizer,
         "``factory(params, *, lr, betas, capturable=False, **kwargs) -> "
         "torch.optim.Optimizer`` (``betas``: the preset's beta1, beta2; ``capturable``: "
         "it will be replayed in a CUDA graph)"),
    Kind("augment", "augments", Augment, "``factory(**kwargs) -> ganzoo.Augment``"),
    Kind("schedule", "schedules", Schedule, "``factory(**kwargs) -> ganzoo.Schedule``"),
)
BY_NAME = {kind.name: kind for kind in KINDS}
