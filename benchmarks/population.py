"""A population's step against the solo step, side by side in one process.

    python benchmarks/population.py [--preset vanilla-mnist] [--sizes 1,4,8,16] [--rounds 5]
                                    [--device cpu|cuda] [--matmuls]

Each round times ``--steps`` solo steps (``TrainStep``, what ``ganzoo train`` runs) and
then ``--steps`` population steps of each size K (``PopulationStep``, what
``ganzoo train --population K`` runs) on random batches, the two interleaved so that a
busy machine slows both alike. Prints the medians: aggregate samples/s (K x batch per
step), per-member samples/s and the ratio of the aggregate to the solo step's.

``--matmuls`` (CPU) also times every matrix product of a few steps of each (``mm``,
``addmm``, ``bmm``, ``baddbmm``) and prints the share of the step they take and the bound
they set: the ratio K would reach if everything but its matmuls were free. Where the solo
step's matmuls already run at the BLAS's speed, batching cannot beat that bound.
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ganzoo.api.presets import resolve_preset
from ganzoo.core.build import build
from ganzoo.engine.population import PopulationStep
from ganzoo.engine.step import TrainStep


def timed(step, inputs, steps: int, device: torch.device) -> float:
    for _ in range(3):  # warm-up
        step(*inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    began = time.perf_counter()
    for _ in range(steps):
        step(*inputs)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - began) / steps


MATMULS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default,
           torch.ops.aten.baddbmm.default}


class MatmulTimer(TorchDispatchMode):
    """Sums the wall time of the matrix products run under it (CPU ops are synchronous)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func not in MATMULS:
            return func(*args, **(kwargs or {}))
        began = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        self.seconds += time.perf_counter() - began
        return out


def matmul_seconds(step: Callable, inputs, steps: int = 10) -> float:
    """The seconds a step spends in matrix products, averaged over ``steps``."""
    for _ in range(3):  # warm-up, as in `timed`
        step(*inputs)
    with MatmulTimer() as timer:
        for _ in range(steps):
            step(*inputs)
    return timer.seconds / steps


def member_step(preset, seed: int, device: torch.device) -> TrainStep:
    """The solo step ``ganzoo train`` runs for ``preset``, its weights drawn from ``seed``."""
    torch.manual_seed(seed)
    return TrainStep(build(preset).to(device), preset)


def population_step(preset, size: int, device: torch.device) -> PopulationStep:
    """The step of ``ganzoo train --population size``: members of seeds 0 ... size-1."""
    members = []
    for seed in range(size):
        torch.manual_seed(seed)
        members.append(build(preset).to(device))
    return PopulationStep(members, [preset] * size)


def random_batch(solo: TrainStep, batch: int, size: int | None, device: torch.device):
    """Random images, labels and noise for ``solo``'s models: one batch, or (``size``) one
    per member, ``[size, batch, ...]``."""
    lead = () if size is None else (size,)
    real = torch.rand(*lead, batch, *solo.generator.out_shape, device=device) * 2 - 1
    labels = torch.randint(0, 10, (*lead, batch), device=device)
    noise = torch.randn(*lead, batch, solo.generator.z_dim, device=device)
    return real, labels, noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vanilla-mnist")
    parser.add_argument("--sizes", default="1,4,8,16")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--matmuls", action="store_true",
                        help="also time the matrix products (CPU) and print their bound")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.matmuls and device.type != "cpu":
        parser.error("--matmuls times CPU ops (CUDA kernels run asynchronously)")
    preset = resolve_preset(args.preset)
    batch = preset.train.batch_size * preset.train.n_critic
    sizes = [int(k) for k in args.sizes.split(",")]

    solo = member_step(preset, 0, device)
    steps = {k: population_step(preset, k, device) for k in sizes}

    def inputs(k: int | None):
        return random_batch(solo, batch, k, device)

    times = {k: [] for k in [None, *sizes]}
    matmuls = {k: [] for k in [None, *sizes]}
    for _ in range(args.rounds):
        for k in [None, *sizes]:
            step = solo if k is None else steps[k]
            times[k].append(timed(step, inputs(k), args.steps, device))
            if args.matmuls:
                matmuls[k].append(matmul_seconds(step, inputs(k)))
    base = batch / statistics.median(times[None])
    print(f"{args.preset} on {device}, batch {batch}, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} rounds of {args.steps} steps")
    print(f"solo step: {statistics.median(times[None]) * 1e3:.2f} ms, {base:,.0f} samples/s")
    for k in sizes:
        agg = k * batch / statistics.median(times[k])
        print(f"K={k:<4} {statistics.median(times[k]) * 1e3:8.2f} ms  aggregate {agg:9,.0f} "
              f"samples/s  per member {agg / k:8,.0f}  {agg / base:5.2f}x solo")
    if args.matmuls:
        solo_time, solo_mm = statistics.median(times[None]), statistics.median(matmuls[None])
        print(f"matmuls: solo {solo_mm * 1e3:.2f} ms a step "
              f"({solo_mm / solo_time:.0%} of it)")
        for k in sizes:
            mm = statistics.median(matmuls[k])
            print(f"matmuls: K={k:<4} {mm * 1e3:8.2f} ms a step "
                  f"({mm / statistics.median(times[k]):.0%}); with all else free "
                  f"K={k} would run at {k * solo_time / mm:.2f}x solo")


if __name__ == "__main__":
    main()
