"""The public Python API, re-exported from :mod:`ganzoo`: what a notebook calls.

>>> import ganzoo
>>> run = ganzoo.train("vanilla-mnist", epochs=5)
>>> images = run.sample(16)
>>> print(ganzoo.evaluate(run, n=1000))
"""

from __future__ import annotations

from ..evaluation.report import Report
from ..evaluation.runpage import write_report as report
from ..evaluation.tensorboard import TensorBoard
from .benchmark import bench
from .population import Population, PopulationReport, Spread
from .presets import list_components, list_presets, resolve_preset, show_preset
from .run import Run, load
from .scoring import evaluate
from .training import train

__all__ = ["Population", "PopulationReport", "Report", "Run", "Spread", "TensorBoard", "bench",
           "evaluate", "list_components", "list_presets", "load", "report", "resolve_preset",
           "show_preset", "train"]
