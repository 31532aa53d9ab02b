"""ganzoo: a plugin-based GAN zoo for PyTorch.

In a notebook::

    import ganzoo
    run = ganzoo.train("vanilla-mnist", epochs=5)   # -> ganzoo.Run
    images = run.sample(16)                         # (16, 1, 28, 28) in [-1, 1]
    print(ganzoo.evaluate(run, n=1000))             # -> ganzoo.Report

A plugin author needs only what is exported here::

    from ganzoo import Generator, Discriminator, GANLoss, Dataset, Preset, hookimpl
"""

from .api import (
    FolderCheck,
    Population,
    PopulationReport,
    Report,
    Run,
    Spread,
    TensorBoard,
    bench,
    bench_table,
    check_folder,
    evaluate,
    list_components,
    list_presets,
    load,
    resolve_preset,
    show_preset,
    train,
    write_run_page,
)
from .core import pairs
from .core.config import parse_pairs, settable_keys
from .core.context import DOutput, Lazy, StepContext, as_output
from .core.datasets import SPLITS as IDX_SPLITS
from .core.datasets import IdxDataset, default_data_root, torchvision_download
from .core.errors import (
    CallbackError,
    CheckpointError,
    ConfigError,
    DataError,
    GanzooError,
    Interrupted,
    PluginError,
    RunExists,
    TrainingError,
)
from .core.folders import ImageFiles
from .core.idx import read_idx, write_idx
from .core.interfaces import (
    UNLABELED,
    Augment,
    Callback,
    ComponentRef,
    Dataset,
    Discriminator,
    Evaluator,
    GANLoss,
    Generator,
    Network,
    NoDiscriminator,
    Objective,
    Preset,
    Schedule,
    TrainSettings,
    Translator,
)
from .core.kinds import KINDS, Kind
from .core.layers import mlp_layers
from .core.plugins import Entry, Registry, get_registry, hookimpl, in_process_plugin
from .core.presetfile import load_preset_file, preset_to_toml
from .core.safepickle import load_numpy_pickle
from .core.terms import non_saturating_d, non_saturating_g, wasserstein_d, wasserstein_g
from .core.version import __version__
from .engine.callbacks import Training
from .engine.optim import adam as fused_adam

__all__ = [
    "IDX_SPLITS",
    "KINDS",
    "Entry",
    "FolderCheck",
    "Kind",
    "Registry",
    "RunExists",
    "Spread",
    "Training",
    "bench_table",
    "check_folder",
    "parse_pairs",
    "write_run_page",
    "Augment",
    "CallbackError",
    "Callback",
    "CheckpointError",
    "ComponentRef",
    "ConfigError",
    "DataError",
    "DOutput",
    "Dataset",
    "Discriminator",
    "Evaluator",
    "GANLoss",
    "GanzooError",
    "Generator",
    "IdxDataset",
    "ImageFiles",
    "Interrupted",
    "Lazy",
    "Network",
    "NoDiscriminator",
    "Objective",
    "PluginError",
    "Preset",
    "Report",
    "Population",
    "PopulationReport",
    "Run",
    "Schedule",
    "StepContext",
    "TensorBoard",
    "TrainSettings",
    "TrainingError",
    "Translator",
    "UNLABELED",
    "__version__",
    "as_output",
    "bench",
    "default_data_root",
    "evaluate",
    "fused_adam",
    "get_registry",
    "hookimpl",
    "in_process_plugin",
    "list_components",
    "list_presets",
    "load",
    "load_numpy_pickle",
    "load_preset_file",
    "mlp_layers",
    "non_saturating_d",
    "non_saturating_g",
    "pairs",
    "preset_to_toml",
    "read_idx",
    "resolve_preset",
    "settable_keys",
    "show_preset",
    "torchvision_download",
    "train",
    "wasserstein_d",
    "wasserstein_g",
    "write_idx",
]
