"""Training throughput: ganzoo's step against the tutorial's loop, in the same process.

Both are timed after a warm-up, with their data pipelines included. Alongside samples/s:
the step's FLOPs (counted by torch's FlopCounterMode on a real step: forward, weight and
input gradients), the achieved FLOP/s against a peak (CPU: a large matmul measured in the
same run; CUDA: the chip's published dense peak), and peak memory.
"""

from __future__ import annotations

import copy
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .baseline import TutorialStep, tutorial_batches, tutorial_loader
from .batches import DeviceImages
from .build import Components, build
from .interfaces import Preset
from .step import TrainStep
from .trainer import make_adam

# Published dense (no sparsity) peaks in FLOP/s, by device-name fragment. fp32 is the CUDA-core
# rate: PyTorch does not use TF32 for float32 matmuls unless asked to.
GPU_PEAKS = {
    "H200": {"bf16": 989.4e12, "fp32": 66.9e12},
    "H100": {"bf16": 989.4e12, "fp32": 66.9e12},
    "A100": {"bf16": 312e12, "fp32": 19.5e12},
}


@dataclass
class BenchResult:
    impl: str  # "ganzoo" or "tutorial"
    device: str
    precision: str
    batch_size: int
    steps: int
    seconds: float
    samples_per_s: float
    ms_per_step: float
    flops_per_step: float
    achieved_flops: float
    peak_flops: float | None
    peak_memory_mb: float
    vs_tutorial: float | None = None

    @property
    def fraction_of_peak(self) -> float | None:
        return self.achieved_flops / self.peak_flops if self.peak_flops else None

    def to_dict(self) -> dict:
        return {**asdict(self), "fraction_of_peak": self.fraction_of_peak}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measured_matmul_peak(device: torch.device, precision: str, max_size: int = 2048,
                         reps: int = 5) -> float:
    """Best FLOP/s of square matmuls on ``device``: the practical peak of this machine.

    Sizes double from 256 until one product takes 50 ms (or ``max_size``), so a precision
    the hardware emulates slowly (bf16 on most CPUs) is measured in seconds, not minutes.
    """
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    best_rate, size = 0.0, 256
    while size <= max_size:
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        a @ b
        best = float("inf")
        for _ in range(reps):
            sync(device)
            start = time.perf_counter()
            a @ b
            sync(device)
            best = min(best, time.perf_counter() - start)
        best_rate = max(best_rate, 2 * size**3 / best)
        if best > 0.05:
            break
        size *= 2
    return best_rate


def peak_flops(device: torch.device, precision: str) -> float | None:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return next((p[precision] for key, p in GPU_PEAKS.items() if key in name), None)
    return measured_matmul_peak(device, precision)


def count_flops(step_fn: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        step_fn()
    return float(counter.get_total_flops())


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process-wide, in KiB


def _time(step: Callable[[], object], device: torch.device, warmup: int, min_steps: int,
          seconds: float) -> tuple[int, float]:
    for _ in range(warmup):
        step()
    sync(device)
    start, steps = time.perf_counter(), 0
    while steps < min_steps or time.perf_counter() - start < seconds:
        step()
        steps += 1
    sync(device)
    return steps, time.perf_counter() - start


def _parts(preset: Preset, device: torch.device) -> Components:
    torch.manual_seed(preset.train.seed)
    parts = build(preset)
    parts.generator.to(device)
    parts.discriminator.to(device)
    return parts


def bench_ganzoo(preset: Preset, images: torch.Tensor, labels: torch.Tensor,
                 device: torch.device, batch_size: int, precision: str, *, warmup: int = 10,
                 min_steps: int = 20, seconds: float = 5.0) -> BenchResult:
    """ganzoo's training step fed by the on-device data path, as ``ganzoo train`` runs it."""
    parts = _parts(preset, device)
    s = preset.train
    betas = (s.beta1, s.beta2)
    opt_g = make_adam(parts.generator.parameters(), s.lr_g, betas, device)
    opt_d = make_adam(parts.discriminator.parameters(), s.lr_d, betas, device)
    step = TrainStep(parts.generator, parts.discriminator, parts.loss, opt_g, opt_d, precision)
    data = DeviceImages(images, labels, device, hflip=s.hflip)
    total = torch.zeros(2, device=device)

    def batches() -> Iterator[torch.Tensor]:
        while True:
            for real, _ in data.epoch(batch_size):
                yield real

    feed = batches()

    def one() -> None:
        nonlocal total
        total += step(next(feed))

    flops = _flops_of_copy(lambda st: st(next(feed)), step)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    steps, elapsed = _time(one, device, warmup, min_steps, seconds)
    return _result("ganzoo", device, precision, batch_size, steps, elapsed, flops)


def bench_tutorial(preset: Preset, images: torch.Tensor, labels: torch.Tensor,
                   device: torch.device, batch_size: int, *, warmup: int = 5,
                   min_steps: int = 10, seconds: float = 5.0) -> BenchResult:
    """The tutorial's loop (see :mod:`ganzoo.baseline`) on the same device and data."""
    parts = _parts(preset, device)
    s = preset.train
    step = TutorialStep(parts.generator, parts.discriminator, parts.loss, s.lr_g, s.lr_d,
                        (s.beta1, s.beta2))
    feed = tutorial_batches(tutorial_loader(images, labels, batch_size, s.hflip), device)
    flops = _flops_of_copy(lambda st: st(next(feed)), step)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    steps, elapsed = _time(lambda: step(next(feed)), device, warmup, min_steps, seconds)
    return _result("tutorial", device, "fp32", batch_size, steps, elapsed, flops)


def _flops_of_copy(run: Callable, step) -> float:
    """FLOPs of one step, counted on a deep copy so the timed models are untouched."""
    return count_flops(lambda: run(copy.deepcopy(step)))


def _result(impl: str, device: torch.device, precision: str, batch_size: int, steps: int,
            elapsed: float, flops: float) -> BenchResult:
    per_step = elapsed / steps
    return BenchResult(impl=impl, device=str(device), precision=precision,
                       batch_size=batch_size, steps=steps, seconds=elapsed,
                       samples_per_s=batch_size / per_step, ms_per_step=per_step * 1e3,
                       flops_per_step=flops, achieved_flops=flops / per_step,
                       peak_flops=None, peak_memory_mb=peak_memory_mb(device))


def run_bench(preset: Preset, data_root: Path, devices: list[torch.device],
              batch_sizes: list[int], precisions: list[str], *, baseline: bool = True,
              seconds: float = 5.0, progress: Callable[[str], None] = print) -> list[BenchResult]:
    """Every (device, batch size, precision) for ganzoo, and the tutorial per (device, batch)."""
    parts = build(preset)
    images, labels = parts.dataset.load("train", data_root)
    results: list[BenchResult] = []
    for device in devices:
        peaks = {p: peak_flops(device, p) for p in {"fp32", *precisions}}
        for batch in batch_sizes:
            reference = None
            if baseline:
                progress(f"tutorial loop, {device}, batch {batch}...")
                reference = bench_tutorial(preset, images, labels, device, batch,
                                           seconds=seconds)
                reference.peak_flops = peaks["fp32"]
                results.append(reference)
            for precision in precisions:
                progress(f"ganzoo, {device}, batch {batch}, {precision}...")
                result = bench_ganzoo(preset, images, labels, device, batch, precision,
                                      seconds=seconds)
                result.peak_flops = peaks[precision]
                if reference is not None:
                    result.vs_tutorial = result.samples_per_s / reference.samples_per_s
                results.append(result)
    return results


def format_table(results: list[BenchResult]) -> str:
    header = ("impl", "device", "prec", "batch", "samples/s", "ms/step", "x tutorial",
              "GFLOP/s", "% peak", "peak MB")
    rows = [header]
    for r in results:
        fraction = r.fraction_of_peak
        rows.append((r.impl, r.device, r.precision, str(r.batch_size), f"{r.samples_per_s:,.0f}",
                     f"{r.ms_per_step:.3f}",
                     f"{r.vs_tutorial:.2f}" if r.vs_tutorial is not None else "-",
                     f"{r.achieved_flops / 1e9:,.1f}",
                     f"{100 * fraction:.1f}" if fraction is not None else "-",
                     f"{r.peak_memory_mb:,.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) if i > 2 else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)
