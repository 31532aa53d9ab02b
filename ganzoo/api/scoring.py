"""``ganzoo.evaluate``: sample quality of a run, as a :class:`~ganzoo.Report`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..evaluation.quality import EVAL_SAMPLES
from ..evaluation.report import Report
from ..evaluation.report import evaluate as score_source


def evaluate(run: Any, n: int = EVAL_SAMPLES, *, device: str | None = None,
             data_dir: Path | str | None = None, seed: int = 0, floor: bool = True,
             progress: Callable[[str], None] | None = None,
             metrics: Sequence[str] = (), features: str | None = None,
             inception_weights: Path | str | None = None) -> Report:
    """Score the generator of a :class:`~ganzoo.Run`, run directory or checkpoint with its
    dataset's evaluator network: FID, classifier score, modes covered and KL to uniform
    classes (and class accuracy for a conditional one; each domain of coupled images), next
    to the real-data floor unless ``floor=False``. The evaluator is trained once and cached
    in the data root; its training's progress lines go to ``progress`` (e.g. ``print``;
    None: nowhere). ``metrics`` adds "kid" (kernel distance) and "pr" (precision and
    recall, k = 3) on the same features; "fid" and "is" are always computed.

    ``features="inception"`` scores on Inception-v3's features instead (the literature's
    FID, IS and KID; the default where the dataset names no evaluator): the weights file
    ``inception_weights``, or the data root's copy, fetched there when missing. Real images'
    features are cached in the data root either way."""
    source = Path(getattr(run, "source", run))
    return score_source(source, n, device=device, data_dir=data_dir, seed=seed,
                        with_floor=floor, say=progress or (lambda msg: None),
                        metrics=metrics, features=features,
                        inception_weights=inception_weights)
