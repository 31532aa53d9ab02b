"""The options of a run: device, run directory, resume, precision, checkpoint cadence and
what to do on failure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunOptions:
    """How a run is carried out, as opposed to what it trains (the preset)."""

    device: str | None = None  # None: CUDA when available, else CPU
    out: Path | None = None  # run directory; default runs/<preset>-<time>
    data_dir: Path | None = None  # default: $GANZOO_DATA or ~/.cache/ganzoo
    resume: Path | None = None  # a run directory or a training checkpoint
    precision: str = "fp32"  # or "bf16": autocast forward passes, fp32 losses and state
    cuda_graphs: bool = True  # on CUDA, replay the whole step as one CUDA graph
    quiet: bool = False
    # Besides every epoch's end, checkpoint inside epochs every N steps and/or S seconds.
    checkpoint_every_steps: int | None = None
    checkpoint_every_s: float | None = 600.0
    on_save_error: str = "stop"  # or "continue": warn and keep training when a write fails
    on_nan: str = "stop"  # or "rollback": reload the last good checkpoint, halve the lr
