"""Training throughput, ganzoo against the tutorial, per device and batch size.

Run: python -m pytest benchmarks/ --benchmark-columns=mean,ops,rounds
(ops is steps/s; multiply by the batch size for samples/s). GPU cases run when CUDA is
present and are skipped otherwise. Nothing here asserts on time.
"""

import pytest
import torch
from conftest import DEVICES
from tutorial_seed import Tutorial

from ganzoo.core.build import build
from ganzoo.core.plugins import get_registry
from ganzoo.engine.step import TrainStep


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def ganzoo_step(device, precision):
    torch.manual_seed(0)
    preset = get_registry().preset("vanilla-mnist")
    return TrainStep(build(preset).to(device), preset, precision=precision)


def endless(data, batch_size):
    while True:
        for real, _ in data.epoch(batch_size):
            yield real


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch_size", [64, 1024])
def test_tutorial_loop(benchmark, tutorial_dataset, device, batch_size):
    if device == "cuda" and batch_size > 64:
        pytest.skip("the PIL data path, not the GPU, bounds the tutorial here")
    tutorial = Tutorial(tutorial_dataset, device, batch_size)
    feed = tutorial.batches()

    def step():
        tutorial.step(next(feed)[0])
        sync(device)

    benchmark.extra_info.update(device=device, batch_size=batch_size, impl="tutorial")
    benchmark.pedantic(step, rounds=30 if batch_size <= 64 else 5, warmup_rounds=3)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("batch_size", [64, 1024, 4096])
def test_ganzoo_step(benchmark, device_images, device, precision, batch_size):
    if device == "cpu" and precision == "bf16" and batch_size > 64:
        pytest.skip("bf16 is emulated on CPUs without native bf16 and is slow there")
    step = ganzoo_step(device, precision)
    feed = endless(device_images(device), batch_size)

    def one():
        step(next(feed))
        sync(device)

    benchmark.extra_info.update(device=device, batch_size=batch_size, precision=precision,
                                impl="ganzoo")
    benchmark.pedantic(one, rounds=100 if batch_size <= 64 else 10, warmup_rounds=5)
