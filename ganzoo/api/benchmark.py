"""``ganzoo.bench``: a preset's training throughput against the tutorial's loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.build import with_data_shape
from ..core.config import apply_overrides
from ..core.context import check_precision
from ..core.datasets import default_data_root
from ..core.errors import ConfigError
from ..core.interfaces import Preset
from ..engine.devices import resolve_device
from .presets import resolve_preset

if TYPE_CHECKING:
    from ..benchmark.throughput import BenchResult


def bench(preset: str | Path | Preset, *, batch_sizes: Sequence[int] = (64,),
          precisions: Sequence[str] = ("fp32",), devices: Sequence[str] | None = None,
          seconds: float = 5.0, baseline: bool = True, cuda_graphs: bool = True,
          data_dir: Path | str | None = None, populations: Sequence[int] = (),
          progress: Callable[[str], None] | None = None, **overrides: Any) -> list[BenchResult]:
    """Time ganzoo's full training step (data included) for every device, batch size and
    precision, and the tutorial's own loop for each device and batch size, in this process.

    Each result has ``samples_per_s``, ``vs_tutorial`` (the ratio to the tutorial's loop at
    the same batch), achieved FLOP/s against the device's peak and peak memory.
    ``populations=(1, 8, 64)`` adds a population step of each size (``members``, aggregate
    ``samples_per_s``, ``vs_solo``: the ratio to the solo fp32 step timed beside it).
    """
    from ..benchmark.throughput import run_bench  # torchvision, for the tutorial's loader: on use

    if populations and min(populations) <= 0:
        raise ConfigError(f"population sizes must be positive, got {list(populations)}")
    if not batch_sizes or min(batch_sizes) <= 0:
        raise ConfigError(f"batch sizes must be positive, got {list(batch_sizes)}")
    for p in precisions:
        check_precision(p)
    resolved = with_data_shape(apply_overrides(resolve_preset(preset), overrides))
    chosen = [resolve_device(name) for name in (devices or [None])]
    root = Path(data_dir) if data_dir else default_data_root()
    return run_bench(resolved, root, chosen, list(batch_sizes), list(precisions),
                     baseline=baseline, seconds=seconds, cuda_graphs=cuda_graphs,
                     populations=list(populations), progress=progress or (lambda msg: None))


def bench_table(results: list[BenchResult]) -> str:
    """:func:`bench`'s results as the table ``ganzoo bench`` prints."""
    from ..benchmark.throughput import format_table

    return format_table(results)
