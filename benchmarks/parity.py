"""Quality parity: the tutorial's loop and ganzoo's fast step, trained for the same epochs.

    python benchmarks/parity.py --epochs 5 --out parity/

Prints per-epoch mean losses of both and writes a fixed-noise sample grid of each, so the
two can be compared side by side. Speed may not change what is learned.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from ganzoo.baseline import TutorialStep, tutorial_loader
from ganzoo.batches import DeviceImages
from ganzoo.build import build
from ganzoo.datasets import default_data_root
from ganzoo.images import save_grid
from ganzoo.registry import get_registry
from ganzoo.step import TrainStep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("parity"))
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    preset = get_registry().preset("vanilla-mnist")
    s = preset.train
    images, labels = build(preset).dataset.load("train", args.data_dir or default_data_root())
    noise = torch.randn(64, 64, generator=torch.Generator().manual_seed(1))
    report = {}
    for impl in ("ganzoo", "tutorial"):
        torch.manual_seed(s.seed)
        parts = build(preset)
        G, D = parts.generator, parts.discriminator
        if impl == "ganzoo":
            step = TrainStep.create(G, D, parts.loss, s)
            data = DeviceImages(images, labels, torch.device("cpu"), hflip=s.hflip)

            def epoch_batches(data=data):
                return (real for real, _ in data.epoch(s.batch_size))
        else:
            step = TutorialStep(G, D, parts.loss, s.lr_g, s.lr_d, (s.beta1, s.beta2))
            loader = tutorial_loader(images, labels, s.batch_size, s.hflip)

            def epoch_batches(loader=loader):
                return (real for real, _ in loader)
        rows = []
        for epoch in range(args.epochs):
            start, total, n = time.perf_counter(), torch.zeros(2), 0
            for real in epoch_batches():
                losses = step(real)
                total += torch.stack(list(losses)) if isinstance(losses, tuple) else losses
                n += 1
            rows.append({"epoch": epoch, "loss_d": (total[0] / n).item(),
                         "loss_g": (total[1] / n).item(),
                         "samples_per_s": n * s.batch_size / (time.perf_counter() - start)})
            print(impl, json.dumps(rows[-1]), flush=True)
        with torch.no_grad():
            save_grid(G(noise), args.out / f"{impl}-epoch-{args.epochs - 1:04d}.png", nrow=8)
        report[impl] = rows
    (args.out / "parity.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
