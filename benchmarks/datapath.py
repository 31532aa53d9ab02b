"""The data path at 64 px: a prepared image folder held in memory against streamed from its
memory-mapped file by ganzoo's background thread, for the same preset (dcgan-folder).

    python benchmarks/datapath.py [--images 4096] [--seconds 60] [--device cpu]

Writes ``--images`` random 64x64 RGB PNGs to a temporary folder and prepares it as
``ganzoo train dcgan-folder`` would (the cache, memory-mapped), then, in one process, times
in alternating blocks (ganzoo.benchmark.throughput.measure):

1. the data alone: an epoch's batches of 64 (uint8 to [-1, 1] on the device), nothing else;
2. training: dcgan-folder's step (64 px DCGAN, batch 64) fed by each path.

Prints samples/s of each and the streamed / in-memory ratios.
"""

import argparse
import tempfile
from pathlib import Path

import torch
from dcgan_example import make_folder, timed  # this folder's

from ganzoo.benchmark.throughput import Runner, _endless, ganzoo_runner
from ganzoo.core.build import build_component, with_data_shape
from ganzoo.core.config import apply_overrides
from ganzoo.core.plugins import get_registry
from ganzoo.engine.batches import DeviceImages
from ganzoo.engine.stream import StreamedImages

BATCH = 64


def data_runner(name: str, data) -> Runner:
    feed = _endless(data, BATCH)
    return Runner(name, "fp32", lambda: next(feed), None, BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="per runner and part, over 5 rounds")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder, root = Path(tmp) / "images", Path(tmp) / "data"
        make_folder(folder, args.images, 64)
        preset = with_data_shape(apply_overrides(get_registry().preset("dcgan-folder"),
                                                 {"dataset.path": str(folder)}))
        images, labels = build_component("dataset", preset.dataset).load("train", root)
        memory = DeviceImages(images, labels, device, hflip=True)
        streamed = StreamedImages(images, labels, device, hflip=True)
        print(f"{args.images:,} images, 3x64x64, {images.numel() * 2 / 1e6:.0f} MB with "
              f"flips; {device}; torch {torch.__version__}, {torch.get_num_threads()} threads")
        parts = [("data alone", [data_runner("in memory", memory),
                                 data_runner("streamed", streamed)]),
                 ("dcgan-folder training step", [
                     ganzoo_runner(preset, memory, BATCH, "fp32", cuda_graphs=False),
                     ganzoo_runner(preset, streamed, BATCH, "fp32", cuda_graphs=False)])]
        for title, runners in parts:
            rates = timed(runners, device, args.seconds)
            print(f"{title}: in memory {rates[0]:,.0f} samples/s, streamed {rates[1]:,.0f} "
                  f"samples/s, streamed / in memory {rates[1] / rates[0]:.3f}")


if __name__ == "__main__":
    main()
