"""pix2pix at 64 px: ``ganzoo train pix2pix-edges2mnist``'s step against the loop of pix2pix's
reference implementation.

    python benchmarks/pix2pix_loop.py [--seconds 60] [--device cpu] [--width 64] [--jitter 8]

The reference trains as ``train.py`` + ``pix2pix_model.py`` of junyanz/pytorch-CycleGAN-
and-pix2pix do: a DataLoader of (A, B) pairs (here edges2mnist scaled to 64 px, each item
scaled to [-1, 1] as its transform does), fake_B = G(A); D's update on cat(A, fake_B)
detached and cat(A, B), (BCE fake + BCE real) / 2, with D's gradients on; then G's with D's
gradients off, BCE(D(cat(A, fake_B)), 1) + 100 |fake_B - B|; an Adam each (2e-4, beta1
0.5). Both use the same networks (this repository's ``unet`` and ``patchgan`` at the
paper's width 64) and batch 16, in one process in alternating blocks
(ganzoo.benchmark.throughput.measure); ganzoo's step is fed by its on-device data path.
With ``--jitter N`` both add the papers' augmentation, the same for both sides of a pair:
the reference per item in its DataLoader (resize to 64 + N, bicubic; a random crop back to
64; a flip half the time), ganzoo on the batch (``hflip``, ``jitter = N``).

Prints samples/s of each and ganzoo / reference.
"""

import argparse
import dataclasses

import torch
import torch.nn.functional as F
from dcgan_example import against_ganzoo, endless  # this folder's
from torchvision.transforms.v2.functional import InterpolationMode, resize

from ganzoo import pairs
from ganzoo.benchmark.throughput import Runner
from ganzoo.core.build import build_component, with_data_shape
from ganzoo.core.config import apply_overrides
from ganzoo.core.datasets import default_data_root
from ganzoo.core.plugins import get_registry

BATCH = 16
RESOLUTION = 64


class Pairs(torch.utils.data.Dataset):
    """(A, B) per item in [-1, 1], as the reference's AlignedDataset returns them: with
    ``jitter``, resized, cropped at one random corner and flipped (or not) alike."""

    def __init__(self, images: torch.Tensor, jitter: int = 0) -> None:
        self.images, self.jitter = images, jitter

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        pair = self.images[i]
        if self.jitter:
            size = pair.shape[-1]
            pair = resize(pair, [size + self.jitter] * 2, InterpolationMode.BICUBIC)
            y, x = torch.randint(0, self.jitter + 1, (2,)).tolist()
            pair = pair[:, y:y + size, x:x + size]
            if torch.rand(()) < 0.5:
                pair = pair.flip(-1)
        a, b = pairs.split(pair.float() / 127.5 - 1)
        return a, b


def reference_runner(preset, images: torch.Tensor, device: torch.device) -> Runner:
    loader = torch.utils.data.DataLoader(Pairs(images, preset.train.jitter), batch_size=BATCH,
                                         shuffle=True, drop_last=True)
    G = build_component("generator", preset.generator).to(device)
    D = build_component("discriminator", preset.discriminator).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = F.binary_cross_entropy_with_logits
    feed = endless(loader)

    def step() -> None:
        a, b = (t.to(device) for t in next(feed))
        fake_b = G.nets["AB"](a)
        D.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        pred_fake = D(torch.cat([a, fake_b.detach()], 1))
        pred_real = D(torch.cat([a, b], 1))
        loss_d = (bce(pred_fake, torch.zeros_like(pred_fake))
                  + bce(pred_real, torch.ones_like(pred_real))) / 2
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        pred_fake = D(torch.cat([a, fake_b], 1))
        loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + 100 * (fake_b - b).abs().mean()
        loss_g.backward()
        opt_g.step()

    return Runner("reference", "fp32", step, None, BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per runner, 5 rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--width", type=int, default=64, help="G's and D's (the paper: 64)")
    parser.add_argument("--jitter", type=int, default=0,
                        help="pixels of random jitter, with flips (0: neither)")
    args = parser.parse_args()
    device, root = torch.device(args.device), default_data_root()
    registry = get_registry()
    preset = apply_overrides(registry.preset("pix2pix-edges2mnist"), {
        "dataset.resolution": RESOLUTION, "generator.width": args.width,
        "discriminator.width": args.width, "batch_size": BATCH, "jitter": args.jitter,
        "hflip": args.jitter > 0})
    preset = with_data_shape(dataclasses.replace(preset, schedule_g=None, schedule_d=None))
    dataset = build_component("dataset", preset.dataset)
    images, labels = dataset.load("train", root)
    theirs, mine, impl = against_ganzoo(reference_runner(preset, images, device), preset,
                                        images, labels, device, args.seconds, BATCH,
                                        cuda_graphs=device.type == "cuda")
    print(f"pix2pix at {RESOLUTION} px, width {args.width}, jitter {args.jitter}, on {device}, "
          f"batch {BATCH}, torch {torch.__version__}, {torch.get_num_threads()} threads: "
          f"the reference loop "
          f"{theirs:,.1f} samples/s, ganzoo ({impl}) {mine:,.1f} samples/s, ganzoo / "
          f"reference {mine / theirs:.3f}")


if __name__ == "__main__":
    main()
