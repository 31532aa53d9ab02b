"""Whole epochs as a user sees them: `ganzoo train vanilla-mnist` against the tutorial's program.

    python benchmarks/epochs.py --epochs 3 --rounds 3 [--data-dir D] [--population K]

Each round runs both programs one after the other, each in its own process, for ``--epochs``
epochs: ``python -m ganzoo train vanilla-mnist`` and the tutorial's script
(``benchmarks/tutorial_seed.py``). Every ``Epoch [e/E] ...`` line either program prints is
time-stamped as it arrives; an epoch's time is the gap between two consecutive lines, so it
holds everything the program does per epoch (its data pipeline, its steps, ganzoo's
checkpoint and records) and none of the start-up. Prints each epoch, then the medians and
their ratio, and writes benchmarks/epochs.json (git-ignored).

``--population K`` runs ``ganzoo train vanilla-mnist --population K`` in the tutorial's
place: the ratio is then the population's aggregate samples/s (K members' images an epoch)
over the solo run's.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ganzoo.core.datasets import default_data_root
from ganzoo.core.errors import DataError
from ganzoo.core.idx import read_idx
from ganzoo.core.plugins import get_registry

HERE = Path(__file__).resolve().parent
EPOCH_LINE = re.compile(r"^Epoch \[\d+/\d+\] (Loss D|\d+ of \d+ members)")  # solo, population


def epoch_seconds(cmd: list[str]) -> list[float]:
    """Runs ``cmd`` and returns the gaps between its consecutive epoch lines."""
    stamps = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            if EPOCH_LINE.match(line):
                stamps.append(time.perf_counter())
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    return [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(default_data_root()),
                        help="a data root holding MNIST/raw (default: ganzoo's)")
    parser.add_argument("--epochs", type=int, default=3, help="per run; epochs - 1 are timed")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=str(HERE / "epochs.json"))
    parser.add_argument("--population", type=int, default=0, metavar="K",
                        help="compare with a population of K instead of the tutorial")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: an epoch is timed from the one before")

    try:
        n = len(read_idx(Path(args.data_dir) / "MNIST" / "raw" / "train-images-idx3-ubyte"))
    except DataError as exc:
        parser.error(f"{exc}: run `ganzoo train vanilla-mnist` once, which fetches MNIST, "
                     "or pass --data-dir")
    # the tutorial's DataLoader keeps the last partial batch, ganzoo drops it
    batch = get_registry().preset("vanilla-mnist").train.batch_size  # the tutorial's too
    other = f"population K={args.population}" if args.population else "tutorial"
    images = {"ganzoo": n // batch * batch,
              other: args.population * (n // batch * batch) if args.population else n}
    times: dict[str, list[float]] = {"ganzoo": [], other: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            train = [sys.executable, "-m", "ganzoo", "train", "vanilla-mnist", "--epochs",
                     str(args.epochs), "--device", "cpu", "--data-dir", args.data_dir]
            commands = {
                "ganzoo": [*train, "--out", f"{tmp}/run{r}"],
                other: ([*train, "--out", f"{tmp}/population{r}", "--population",
                         str(args.population)] if args.population else
                        [sys.executable, str(HERE / "tutorial_seed.py"),
                         "--data-dir", args.data_dir, "--epochs", str(args.epochs)]),
            }
            for impl, cmd in commands.items():
                for s in epoch_seconds(cmd):
                    times[impl].append(s)
                    print(f"round {r} {impl:8s} epoch {s:6.2f} s  "
                          f"{images[impl] / s:7,.0f} samples/s", flush=True)
    median = {impl: statistics.median(t) for impl, t in times.items()}
    rate = {impl: images[impl] / median[impl] for impl in times}
    if args.population:  # the population against the solo run
        ratio = rate[other] / rate["ganzoo"]
        verdict = f"population x{ratio:.2f} solo"
    else:
        ratio = rate["ganzoo"] / rate["tutorial"]
        verdict = f"ganzoo x{ratio:.2f}"
    print(f"median whole epoch: ganzoo {median['ganzoo']:.2f} s ({rate['ganzoo']:,.0f} samples/s),"
          f" {other} {median[other]:.2f} s ({rate[other]:,.0f} samples/s): {verdict}")
    Path(args.json).write_text(json.dumps({"epoch_seconds": times, "median_s": median,
                                           "samples_per_s": rate, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
