"""The TensorBoard callback: a run's records, sample grids and config as TensorBoard events.

TensorBoard is an optional extra (``pip install 'ganzoo[tensorboard]'``); ganzoo writes the
events with torch's own ``SummaryWriter``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.interfaces import Callback
from ..core.presetfile import preset_to_toml
from ..engine.callbacks import sample_epoch

INSTALL = "TensorBoard is an optional extra: pip install 'ganzoo[tensorboard]' (or tensorboard)"


def _summary_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"--tensorboard needs the tensorboard package. {INSTALL}") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Writes TensorBoard events into ``log_dir`` (default: ``<run>/tensorboard``): each
    epoch's losses, samples/s, learning rates, objective state and quality as scalars
    (step = epoch), each sample grid as an image, the resolved preset as text and, at the
    end, the settings as hparams with the final losses (and FID) as their metrics."""

    name = "tensorboard"

    def __init__(self, log_dir: Path | str | None = None) -> None:
        self._writer_class = _summary_writer()  # fails now, not after the first epoch
        self.log_dir = Path(log_dir) if log_dir else None
        self.writer = None

    def on_train_start(self, training: Any) -> None:
        self.writer = self._writer_class(str(self.log_dir or training.root / "tensorboard"))
        if not training.resumed:
            self.writer.add_text("config", f"```\n{preset_to_toml(training.preset)}\n```")

    def on_epoch_end(self, training: Any, record: dict[str, Any]) -> None:
        epoch = record["epoch"]
        scalars = {"loss/d": record["loss_d"], "loss/g": record["loss_g"],
                   "samples_per_s": record["samples_per_s"]}
        scalars.update({key.replace("_", "/", 1): value for key, value in record.items()
                        if key.startswith(("lr_", "state_"))})
        scalars.update({f"quality/{key}": value for key, value in
                        record.get("quality", {}).items() if isinstance(value, float)})
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, epoch)
        grid = training.run_dir.samples / f"epoch-{epoch:04d}.png"
        if sample_epoch(training, epoch) and grid.is_file():
            import numpy as np
            from PIL import Image

            with Image.open(grid) as image:
                self.writer.add_image("samples", np.asarray(image.convert("RGB")), epoch,
                                      dataformats="HWC")
        self.writer.flush()

    def on_train_end(self, training: Any) -> None:
        settings = {f"train/{k}": v for k, v in training.preset.to_dict()["train"].items()}
        settings.update({kind: training.preset.to_dict()[kind]["name"]
                         for kind in ("generator", "discriminator", "loss", "dataset")})
        last = training.history[-1] if training.history else {}
        metrics = {f"final/{k}": last[k] for k in ("loss_d", "loss_g") if k in last}
        if "quality" in last:
            metrics["final/fid"] = last["quality"]["fid"]
        self.writer.add_hparams(settings, metrics, run_name=".")
        self.writer.close()
