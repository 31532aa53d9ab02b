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

    def __post_init__(self) -> None:
        check_precision(self.precision)
        _choice("on_save_error", self.on_save_error, ON_SAVE_ERROR)
        _choice("on_nan", self.on_nan, ON_NAN)
        self.checkpoint_every_steps, self.checkpoint_every_s = parse_cadence(
            self.checkpoint_every)
