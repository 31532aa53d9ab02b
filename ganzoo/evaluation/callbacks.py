"""The callbacks of the evaluation layer: sample quality during training, the run's page."""

from __future__ import annotations

from typing import Any

from ..core.interfaces import Callback
from ..engine.callbacks import sample_epoch
from .quality import Scorer
from .runpage import write_report
from .scorers import scorer_for


class EvaluateEvery(Callback):
    """Scores ``n`` samples every ``every`` epochs and after the last, into the epoch's
    record under ``quality`` (so into ``metrics.jsonl`` and the loss plot)."""

    name = "evaluate-every"

    def __init__(self, every: int, n: int | None = None) -> None:
        self.every, self.n = int(every), n
        self.scorer: Scorer | None = None

    def on_train_start(self, training: Any) -> None:
        self.scorer = scorer_for(training.dataset, training.data_root, training.device,
                                 training.say)[0]

    def on_epoch_end(self, training: Any, record: dict[str, Any]) -> None:
        epoch = record["epoch"]
        if (epoch + 1) % self.every and not training.is_last(epoch):
            return
        extra = {} if self.n is None else {"n": self.n}
        quality = self.scorer.score_generator(training.generator,
                                              seed=training.preset.train.seed + 2, **extra)
        record["quality"] = quality.as_dict()
        training.say(f"Epoch [{epoch}/{training.preset.train.epochs}] quality: "
                     f"{quality.summary()}")


class ReportPage(Callback):
    """``report.html`` in the run directory (``ganzoo report``'s page), written anew after
    each sample epoch's checkpoint, so a long run can be watched, and at the end."""

    name = "report-page"

    def on_checkpoint_saved(self, training: Any, path: Any) -> None:
        if training.history and sample_epoch(training, training.history[-1]["epoch"]):
            write_report([training.root])

    def on_train_end(self, training: Any) -> None:
        write_report([training.root])
