"""Training throughput: ganzoo's step against the tutorial's loop, in the same process.

Both are timed after a warm-up, with their data pipelines included. Alongside samples/s:
the step's FLOPs (counted by torch's FlopCounterMode on a real step: forward, weight and
input gradients), the achieved FLOP/s against a peak (CPU: a large square matmul timed in the
same alternating blocks, so it sees the same machine; CUDA: the chip's published dense peak),
and peak memory.
"""

from __future__ import annotations

import copy
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..core.build import Components, build
from ..core.interfaces import GANLoss, Preset
from ..engine.batches import DeviceImages
from ..engine.population import PopulationStep
from ..engine.step import CudaGraphStep, TrainStep
from .baseline import TutorialStep, tutorial_batches, tutorial_loader

# Published dense (no sparsity) peaks in FLOP/s, by device-name fragment. fp32 is the CUDA-core
# rate: PyTorch does not use TF32 for float32 matmuls unless asked to.
GPU_PEAKS = {
    "H200": {"bf16": 989.4e12, "fp32": 66.9e12},
    "H100": {"bf16": 989.4e12, "fp32": 66.9e12},
    "A100": {"bf16": 312e12, "fp32": 19.5e12},
}


@dataclass
class BenchResult:
    impl: str  # "tutorial", "ganzoo", or "ganzoo+graph" (CUDA graphs)
    device: str
    precision: str
    batch_size: int
    steps: int
    seconds: float
    samples_per_s: float
    ms_per_step: float
    flops_per_step: float | None  # None: not countable (see count_flops)
    achieved_flops: float | None
    peak_flops: float | None
    peak_memory_mb: float
    vs_tutorial: float | None = None
    members: int = 1  # a population's K: samples_per_s is then the aggregate over them
    vs_solo: float | None = None  # a population's aggregate / the solo step's, same run

    @property
    def fraction_of_peak(self) -> float | None:
        if self.achieved_flops is None or not self.peak_flops:
            return None
        return self.achieved_flops / self.peak_flops

    def to_dict(self) -> dict:
        return {**asdict(self), "fraction_of_peak": self.fraction_of_peak}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Runner:
    """One implementation at one setting, ready to take timed steps."""

    impl: str
    precision: str
    step: Callable[[], object]
    flops_per_step: float | None
    images_per_step: int
    steps: int = 0
    seconds: float = 0.0


def matmul_runner(device: torch.device, precision: str, max_size: int = 2048) -> Runner:
    """Square matmuls: the practical peak of this machine, timed alongside the training steps.

    The size doubles from 256 until one product takes 20 ms (or ``max_size``), so a precision
    the hardware emulates slowly (bf16 on most CPUs) is measured in seconds, not minutes.
    """
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    size = 256
    while True:
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        a @ b
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        if time.perf_counter() - start > 0.02 or size >= max_size:
            break
        size *= 2
    return Runner("matmul", precision, lambda: a @ b, 2.0 * size**3, size)


def published_peak(device: torch.device, precision: str) -> float | None:
    """The chip's published dense peak for ``precision``, when it is in GPU_PEAKS."""
    name = torch.cuda.get_device_name(device)
    return next((p[precision] for key, p in GPU_PEAKS.items() if key in name), None)


def count_flops(step_fn: Callable[[], object]) -> float | None:
    """FLOPs of one call, or None where torch's counter cannot follow the step (its module
    hooks refuse a double backward such as a gradient penalty's)."""
    try:
        with FlopCounterMode(display=False) as counter:
            step_fn()
    except RuntimeError:
        return None
    return float(counter.get_total_flops())


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process-wide, in KiB


def _parts(preset: Preset, device: torch.device) -> Components:
    torch.manual_seed(preset.train.seed)
    return build(preset).to(device)


def _flops_of_copy(step, inputs: Callable[[], tuple]) -> float | None:
    """FLOPs of one step, counted on a deep copy so the timed models are untouched."""
    clone = copy.deepcopy(step)
    return count_flops(lambda: clone(*inputs()))


def ganzoo_runner(preset: Preset, data: DeviceImages, batch_size: int, precision: str,
                  cuda_graphs: bool = True) -> Runner:
    """ganzoo's training step fed by the on-device data path, as ``ganzoo train`` runs it."""
    device = data.device
    parts = _parts(preset, device)
    graphs = cuda_graphs and device.type == "cuda"
    step = TrainStep(parts, preset, precision=precision, capturable=graphs)
    per_step = batch_size * preset.train.n_critic
    feed = _endless(data, per_step)
    flops = _flops_of_copy(step, lambda: next(feed))  # counted eagerly: the same kernels
    run = CudaGraphStep(step) if graphs else step
    total = torch.zeros(2, device=device)

    def one() -> None:
        total.add_(run(*next(feed)))  # the loss bookkeeping train does, without a host sync

    name = "ganzoo+graph" if graphs else "ganzoo"
    return Runner(name, precision, one, flops, per_step)


def population_runner(preset: Preset, data: DeviceImages, batch_size: int,
                      size: int, cuda_graphs: bool = True) -> Runner:
    """``size`` members of the preset in one :class:`PopulationStep`, each member on its own
    batch order and noise, as ``ganzoo train --population`` runs it (fp32; on CUDA replayed
    as one graph unless ``cuda_graphs`` is off)."""
    device = data.device
    graphs = cuda_graphs and device.type == "cuda"
    members = []
    for seed in range(size):
        torch.manual_seed(preset.train.seed + seed)
        members.append(build(preset).to(device))
    step = PopulationStep(members, [preset] * size, capturable=graphs)
    per_step = batch_size * preset.train.n_critic
    G = members[0].generator

    def feed() -> Iterator[tuple[torch.Tensor, ...]]:
        while True:
            orders = [data.order() for _ in range(size)]
            for real, labels in data.stacked_batches(orders, per_step):
                yield real, labels, torch.stack([G.sample_noise(per_step, device)
                                                 for _ in range(size)])

    batches = feed()
    flops = _flops_of_copy(step, lambda: next(batches))
    run = CudaGraphStep(step) if graphs else step
    total = torch.zeros(size, 2, device=device)

    def one() -> None:
        total.add_(run(*next(batches)))

    return Runner(f"population K={size}" + ("+graph" if graphs else ""), "fp32", one, flops,
                  per_step * size)


def tutorial_runner(preset: Preset, images: torch.Tensor, labels: torch.Tensor,
                    device: torch.device, batch_size: int) -> Runner:
    """The tutorial's loop (see :mod:`ganzoo.baseline`) on the same device and data."""
    parts = _parts(preset, device)
    s = preset.train
    step = TutorialStep(parts.generator, parts.discriminator, parts.loss, s.lr_g, s.lr_d,
                        (s.beta1, s.beta2))
    feed = tutorial_batches(tutorial_loader(images, labels, batch_size, s.hflip), device)
    return Runner("tutorial", "fp32", lambda: step(next(feed)),
                  _flops_of_copy(step, lambda: (next(feed),)), batch_size)


def tutorial_can_train(preset: Preset) -> bool:
    """The tutorial's loop trains an unconditional GAN from noise, one D update per G
    update, with no loss term that needs D itself; other presets are measured without it."""
    parts = build(preset)
    if not isinstance(parts.loss, GANLoss) or parts.generator.translates:
        return False  # an objective (the tutorial has its one loss), or images for noise
    own_regularizer = (type(parts.loss).discriminator_regularizer
                       is not GANLoss.discriminator_regularizer)
    return not (parts.generator.num_classes or preset.train.n_critic > 1 or own_regularizer
                or preset.optimizer_g is not None or preset.optimizer_d is not None)


def _endless(data: DeviceImages, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from data.epoch(batch_size)


def measure(runners: list[Runner], device: torch.device, seconds: float, rounds: int = 5,
            warmup: int = 5) -> None:
    """Time the runners in alternating blocks, so drifts of a shared machine hit all alike."""
    block: dict[int, int] = {}
    for i, runner in enumerate(runners):
        for _ in range(warmup):
            runner.step()
        sync(device)
        start = time.perf_counter()
        runner.step()
        sync(device)
        one = max(time.perf_counter() - start, 1e-6)
        block[i] = max(1, int(seconds / rounds / one))
    for _ in range(rounds):
        for i, runner in enumerate(runners):
            sync(device)
            start = time.perf_counter()
            for _ in range(block[i]):
                runner.step()
            sync(device)
            runner.seconds += time.perf_counter() - start
            runner.steps += block[i]


def run_bench(preset: Preset, data_root: Path, devices: list[torch.device],
              batch_sizes: list[int], precisions: list[str], *, baseline: bool = True,
              seconds: float = 5.0, cuda_graphs: bool = True,
              populations: Sequence[int] = (),
              progress: Callable[[str], None] = print) -> list[BenchResult]:
    """Every (device, batch size, precision) for ganzoo, and the tutorial per (device, batch);
    with ``populations``, a population step of each size K next to them (its ``vs_solo``:
    against ganzoo's fp32 solo step in the same blocks)."""
    images, labels = build(preset).dataset.load("train", data_root)
    if baseline and not tutorial_can_train(preset):
        progress(f"{preset.name}: the tutorial's loop cannot train it (conditional, several D "
                 "updates or a D regularizer); measuring ganzoo alone")
        baseline = False
    results: list[BenchResult] = []
    kinds = sorted({"fp32", *precisions})  # the peaks to measure: fp32 for the tutorial
    for device in devices:
        full = DeviceImages(images, labels, device, preset.train.hflip, preset.train.jitter)
        for batch in batch_sizes:
            progress(f"measuring {device}, batch {batch}: "
                     + ", ".join([*(["tutorial"] if baseline else []), *precisions]))
            needed = batch * preset.train.n_critic
            imgs, labs = covering(images, labels, needed)
            if imgs is images:
                data = full
            else:
                progress(f"batch {batch} needs {needed:,} images a step, the dataset has "
                         f"{len(images):,}: timing it on the dataset repeated")
                data = DeviceImages(imgs, labs, device, preset.train.hflip, preset.train.jitter)
            runners = [ganzoo_runner(preset, data, batch, p, cuda_graphs) for p in precisions]
            runners += [population_runner(preset, data, batch, k, cuda_graphs)
                        for k in populations]
            if baseline:
                runners.insert(0, tutorial_runner(preset, imgs, labs, device, batch))
            # CPU: the peak is a large matmul timed in the same alternating blocks
            matmuls = [matmul_runner(device, p) for p in kinds] if device.type == "cpu" else []
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            measure(runners + matmuls, device, seconds * len(runners + matmuls))
            if matmuls:
                peaks = {m.precision: m.flops_per_step * m.steps / m.seconds for m in matmuls}
            else:
                peaks = {p: published_peak(device, p) for p in kinds}
            rows = [_result(r, device, batch, peaks[r.precision]) for r in runners]
            results.extend(_compared(rows, baseline, populations))
    return results


def _compared(rows: list[BenchResult], baseline: bool, populations: Sequence[int]
              ) -> list[BenchResult]:
    """``rows`` with their ratios: each to the tutorial's (the first row, when measured),
    each population's (the last rows) to ganzoo's fp32 solo step."""
    if baseline:
        for row in rows[1:]:
            row.vs_tutorial = row.samples_per_s / rows[0].samples_per_s
    solo = next((r for r in rows if r.impl.startswith("ganzoo") and r.precision == "fp32"),
                None)
    for row, k in zip(rows[len(rows) - len(populations):], populations, strict=True):
        row.members = k
        row.vs_solo = solo and row.samples_per_s / solo.samples_per_s
    return rows


def covering(images: torch.Tensor, labels: torch.Tensor,
             n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The dataset, or where one step needs more images than it holds, exactly ``n`` of them
    by repeating it: every batch is then a full one, and what is in the images does not
    change how fast a step runs."""
    if n <= len(images):
        return images, labels
    repeats = -(-n // len(images))
    return images.repeat(repeats, 1, 1, 1)[:n], labels.repeat(repeats)[:n]


def _result(runner: Runner, device: torch.device, batch_size: int,
            peak: float | None) -> BenchResult:
    per_step = runner.seconds / runner.steps
    return BenchResult(impl=runner.impl, device=str(device), precision=runner.precision,
                       batch_size=batch_size, steps=runner.steps, seconds=runner.seconds,
                       samples_per_s=runner.images_per_step / per_step,
                       ms_per_step=per_step * 1e3,
                       flops_per_step=runner.flops_per_step,
                       achieved_flops=(None if runner.flops_per_step is None
                                       else runner.flops_per_step / per_step),
                       peak_flops=peak,
                       peak_memory_mb=peak_memory_mb(device))


def format_table(results: list[BenchResult]) -> str:
    header = ("impl", "device", "prec", "batch", "samples/s", "per member", "ms/step",
              "x tutorial", "x solo", "GFLOP/s", "peak GFLOP/s", "% peak", "peak MB")
    rows = [header]
    for r in results:
        fraction = r.fraction_of_peak
        rows.append((r.impl, r.device, r.precision, str(r.batch_size), f"{r.samples_per_s:,.0f}",
                     f"{r.samples_per_s / r.members:,.0f}", f"{r.ms_per_step:.3f}",
                     f"{r.vs_tutorial:.2f}" if r.vs_tutorial is not None else "-",
                     f"{r.vs_solo:.2f}" if r.vs_solo is not None else "-",
                     f"{r.achieved_flops / 1e9:,.1f}" if r.achieved_flops is not None else "-",
                     f"{r.peak_flops / 1e9:,.1f}" if r.peak_flops else "-",
                     f"{100 * fraction:.1f}" if fraction is not None else "-",
                     f"{r.peak_memory_mb:,.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) if i > 2 else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)
