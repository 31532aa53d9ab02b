"""The public Python API, re-exported from :mod:`ganzoo`: what a notebook calls.

>>> import ganzoo
>>> run = ganzoo.train("vanilla-mnist", epochs=5)
>>> images = run.sample(16)
>>> print(ganzoo.evaluate(run, n=1000))
"""

from __future__ import annotations

from ..evaluation.report import Report
from ..evaluation.runpage import write_report as write_run_page
from ..evaluation.tensorboard import TensorBoard
from .benchmark import bench, bench_table
from .data import FolderCheck, check_folder
from .loading import load
from .population import Population, PopulationReport, Spread
from .presets import list_components, list_presets, resolve_preset, show_preset
from .run import Run
from .scoring import evaluate
from .training import train

__all__ = ["FolderCheck", "Population", "PopulationReport", "Report", "Run", "Spread",
           "TensorBoard", "bench", "bench_table", "check_folder", "evaluate", "list_components",
           "list_presets", "load", "resolve_preset", "show_preset", "train", "write_run_page"]
