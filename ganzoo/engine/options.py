"""The options of a run: device, run directory, resume, precision, checkpoint cadence and
what to do on failure -- each checked here, once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.context import check_precision
from ..core.errors import ConfigError

CHECKPOINT_EVERY = "10m"  # the default cadence of checkpoints inside epochs
ON_SAVE_ERROR = ("stop", "continue")  # continue: warn and keep training when a write fails
ON_NAN = ("stop", "rollback")  # rollback: reload the last good checkpoint, halve the lr


def parse_cadence(every: int | str | None) -> tuple[int | None, float | None]:
    """Checkpoints inside epochs: 500 -> every 500 steps; "90s" / "10m" -> every 90 seconds
    / 10 minutes; 0 or None -> at epoch ends only. Returns (steps, seconds)."""
    text = str(every if every is not None else 0).strip().lower()
    scale = {"s": 1.0, "m": 60.0}.get(text[-1:]) if text else None
    try:
        number = float(text[:-1]) if scale else int(text)
    except ValueError:
        raise ConfigError(f"checkpoint_every: expected steps (500), seconds (90s) or minutes "
                          f"(10m), got {every!r}") from None
    if not 0 <= number < float("inf"):
        raise ConfigError(f"checkpoint_every: must be a number >= 0, got {every!r}")
    if not number:
        return None, None
    return (None, number * scale) if scale else (int(number), None)


SIZE_UNITS = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "b": 1}


def parse_size(size: int | str | None, name: str = "stream_above") -> int | None:
    """A size in bytes: 5000, "512MB", "2GB", "0"; None or "auto" stays None."""
    if size is None or str(size).strip().lower() == "auto":
        return None
    text = str(size).strip().lower().replace(" ", "")
    unit = next((u for u in SIZE_UNITS if text.endswith(u)), "")
    try:
        number = float(text[:len(text) - len(unit)]) * SIZE_UNITS.get(unit, 1)
    except ValueError:
        number = -1.0
    if not 0 <= number < float("inf"):
        raise ConfigError(f"{name}: expected a size (5000, 512MB, 2GB) or auto, got {size!r}")
    return int(number)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}: choose from {', '.join(allowed)}; got {value!r}")


@dataclass
class RunOptions:
    """How a run is carried out, as opposed to what it trains (the preset)."""

    device: str | None = None  # None: CUDA when available, else CPU
    out: Path | None = None  # run directory; default runs/<preset>-<time>
    data_dir: Path | None = None  # None: core.datasets.default_data_root()
    resume: Path | None = None  # a run directory or a training checkpoint
    precision: str = "fp32"  # or "bf16": autocast forward passes, fp32 losses and state
    cuda_graphs: bool = True  # on CUDA, replay the whole step as one CUDA graph
    quiet: bool = False
    # Besides every epoch's end, checkpoint inside epochs (see parse_cadence).
    checkpoint_every: int | str | None = CHECKPOINT_EVERY
    on_save_error: str = "stop"  # see ON_SAVE_ERROR
    on_nan: str = "stop"  # see ON_NAN
    # stream the training images from disk when they take more bytes than this (with flips:
    # twice the images); None: half the memory available when the run starts
    stream_above: int | str | None = None

    def __post_init__(self) -> None:
        check_precision(self.precision)
        self.stream_above = parse_size(self.stream_above)
        _choice("on_save_error", self.on_save_error, ON_SAVE_ERROR)
        _choice("on_nan", self.on_nan, ON_NAN)
        self.checkpoint_every_steps, self.checkpoint_every_s = parse_cadence(
            self.checkpoint_every)
