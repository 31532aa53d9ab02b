"""ganzoo: a plugin-based GAN zoo for PyTorch.

A plugin author needs only what is exported here::

    from ganzoo import Generator, Discriminator, GANLoss, Dataset, Evaluator, Preset, hookimpl
"""

from .errors import (
    CheckpointError,
    ConfigError,
    DataError,
    GanzooError,
    PluginError,
    TrainingError,
)
from .interfaces import (
    ComponentRef,
    Dataset,
    Discriminator,
    Evaluator,
    GANLoss,
    Generator,
    Preset,
    TrainSettings,
)
from .registry import get_registry, hookimpl, in_process_plugin

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ComponentRef",
    "ConfigError",
    "DataError",
    "Dataset",
    "Discriminator",
    "Evaluator",
    "GANLoss",
    "GanzooError",
    "Generator",
    "PluginError",
    "Preset",
    "TrainSettings",
    "TrainingError",
    "__version__",
    "get_registry",
    "hookimpl",
    "in_process_plugin",
]
