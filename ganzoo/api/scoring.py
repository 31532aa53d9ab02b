"""``ganzoo.evaluate``: sample quality of a run, as a :class:`~ganzoo.Report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..evaluation.quality import EVAL_SAMPLES
from ..evaluation.report import Report
from ..evaluation.report import evaluate as score_source


def evaluate(run: Any, n: int = EVAL_SAMPLES, *, device: str | None = None,
             data_dir: Path | str | None = None, seed: int = 0, floor: bool = True,
             quiet: bool = True) -> Report:
    """Score the generator of a :class:`~ganzoo.Run`, run directory or checkpoint with its
    dataset's evaluator network: FID, classifier score, modes covered and KL to uniform
    classes (and class accuracy for a conditional one), next to the real-data floor unless
    ``floor=False``. The evaluator is trained once and cached in the data root; ``quiet``
    keeps that training's progress lines to itself."""
    source = Path(getattr(run, "source", run))
    say = (lambda msg: None) if quiet else print
    return score_source(source, n, device=device, data_dir=data_dir, seed=seed,
                        with_floor=floor, say=say)
