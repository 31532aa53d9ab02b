"""Quality parity: the tutorial's loop and ganzoo's training, same preset, same epochs.

    python benchmarks/parity.py --epochs 5 --seeds 0,1,2 --out parity/

For each seed, trains vanilla-mnist with ``ganzoo.train`` (the product path) and with the
tutorial's loop, scores both generators with the same evaluator (``ganzoo eval``'s metrics,
10,000 samples) and writes ``parity.json`` plus a fixed-noise grid of each. Prints one line
per run. Speed may not change what is learned; these figures calibrate the quality
regression test (tests/test_quality.py).
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from ganzoo.benchmark.baseline import TutorialStep, tutorial_loader
from ganzoo.core.build import build
from ganzoo.core.datasets import default_data_root
from ganzoo.core.plugins import get_registry
from ganzoo.engine.images import save_grid
from ganzoo.engine.loop import train
from ganzoo.engine.options import RunOptions
from ganzoo.evaluation.sampling import load_generator
from ganzoo.evaluation.scorers import scorer_for


def train_tutorial(preset, data_root: Path, epochs: int):
    """The tutorial's loop for ``epochs`` epochs; returns the generator and the mean losses
    of the last epoch."""
    s = preset.train
    torch.manual_seed(s.seed)
    parts = build(preset)
    images, labels = parts.dataset.load("train", data_root)
    step = TutorialStep(parts.generator, parts.discriminator, parts.loss, s.lr_g, s.lr_d,
                        (s.beta1, s.beta2))
    loader = tutorial_loader(images, labels, s.batch_size, s.hflip)
    for _ in range(epochs):
        total, n = torch.zeros(2), 0
        for real, _ in loader:
            total += torch.stack(list(step(real)))
            n += 1
    return parts.generator, (total / n).tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--impl", default="ganzoo,tutorial")
    parser.add_argument("--out", type=Path, default=Path("parity"))
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data_root = args.data_dir or default_data_root()
    base = get_registry().preset("vanilla-mnist")
    dataset = build(base).dataset
    scorer, evaluator = scorer_for(dataset, data_root, torch.device("cpu"))
    noise = torch.randn(64, 64, generator=torch.Generator().manual_seed(1))

    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        preset = replace(base, train=replace(base.train, seed=seed, epochs=args.epochs,
                                             eval_every=args.epochs))
        for impl in args.impl.split(","):
            start = time.perf_counter()
            if impl == "ganzoo":
                run = train(preset, RunOptions(device="cpu", out=args.out / f"ganzoo-{seed}",
                                               data_dir=data_root, quiet=True))
                last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
                losses, quality = [last["loss_d"], last["loss_g"]], last["quality"]
                G = load_generator(run).generator
            else:
                G, losses = train_tutorial(preset, data_root, args.epochs)
                quality = scorer.score_generator(G, seed=seed + 2).as_dict()
            with torch.no_grad():
                save_grid(G.eval()(noise), args.out / f"{impl}-seed{seed}.png", nrow=8)
            rows.append({"impl": impl, "seed": seed, "epochs": args.epochs,
                         "loss_d": losses[0], "loss_g": losses[1], **quality,
                         "seconds": time.perf_counter() - start})
            print(json.dumps(rows[-1]), flush=True)
            (args.out / "parity.json").write_text(
                json.dumps({"evaluator": evaluator, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
