"""DCGAN at 32 and 64 px: ``ganzoo train dcgan-folder`` against the loop a user would
otherwise run, PyTorch's own DCGAN example (github.com/pytorch/examples, dcgan/main.py).

    python benchmarks/dcgan_example.py [--images 2048] [--seconds 60] [--sizes 32,64]

Writes ``--images`` random RGB PNGs, one folder per size, and times in one process, in
alternating blocks (ganzoo.benchmark.throughput.measure), batch 64:

* the example's loop as it ships (``--dataset folder``, its defaults): torchvision's
  ImageFolder decoding each PNG through Resize, CenterCrop, ToTensor and Normalize in a
  DataLoader with 2 workers; its G (transposed convolutions from a 1x1 noise map) and D
  (sigmoid output, BCELoss); D trained on the real batch, then the fake one (two backward
  passes), then G; Adam 2e-4, beta1 0.5. At 32 px both nets lose one stride-2 stage (the
  example's layout, one size down), as users adapt it;
* ganzoo's dcgan-folder step at that resolution, fed by the prepared folder in memory.

Prints samples/s of each and ganzoo / example.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ganzoo.benchmark.throughput import Runner, ganzoo_runner, measure
from ganzoo.core.build import build_component, with_data_shape
from ganzoo.core.config import apply_overrides
from ganzoo.core.plugins import get_registry
from ganzoo.engine.batches import DeviceImages

BATCH, NZ, WIDTH = 64, 100, 64


def make_folder(folder: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    (folder / "all").mkdir(parents=True)  # ImageFolder wants a class folder
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "all" / f"{i:05d}.png", compress_level=1)


def endless(loader):
    """A DataLoader's batches, epoch after epoch, as a loop timed past an epoch sees them."""
    while True:
        yield from loader


def timed(runners: list[Runner], device: torch.device, seconds: float) -> list[float]:
    """Samples/s of each runner, timed in alternating blocks."""
    measure(runners, device, seconds)
    return [r.steps * r.images_per_step / r.seconds for r in runners]


def against_ganzoo(reference: Runner, preset, images: torch.Tensor, labels: torch.Tensor,
                   device: torch.device, seconds: float, batch: int = BATCH,
                   cuda_graphs: bool = False) -> tuple[float, float, str]:
    """``reference`` timed against ganzoo's step on ``images`` (its on-device data path), in
    alternating blocks: (reference samples/s, ganzoo samples/s, ganzoo's runner name)."""
    data = DeviceImages(images, labels, device, preset.train.hflip, preset.train.jitter)
    ours = ganzoo_runner(preset, data, batch, "fp32", cuda_graphs=cuda_graphs)
    theirs, mine = timed([reference, ours], device, seconds)
    return theirs, mine, ours.impl


def example_nets(size: int) -> tuple[nn.Module, nn.Module]:
    """The example's _netG and _netD; at 32 px without their widest stage."""
    stages = {64: 4, 32: 3}[size]  # stride-2 stages between 4x4 and the image
    widths = [WIDTH * 2 ** i for i in range(stages)][::-1]  # e.g. 512, 256, 128, 64
    g = [nn.ConvTranspose2d(NZ, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]),
         nn.ReLU(True)]
    for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
        g += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
              nn.ReLU(True)]
    g += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
    rev = widths[::-1]
    d = [nn.Conv2d(3, rev[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for c_in, c_out in zip(rev[:-1], rev[1:], strict=True):
        d += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
              nn.LeakyReLU(0.2, inplace=True)]
    d += [nn.Conv2d(rev[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
    netG, netD = nn.Sequential(*g), nn.Sequential(*d)
    for m in (*netG.modules(), *netD.modules()):  # the example's weights_init
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.weight.data.normal_(0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.normal_(1.0, 0.02)
            m.bias.data.fill_(0)
    return netG, netD


def example_runner(folder: Path, size: int, device: torch.device) -> Runner:
    import torchvision.datasets as dset
    import torchvision.transforms as transforms

    dataset = dset.ImageFolder(root=str(folder), transform=transforms.Compose([
        transforms.Resize(size), transforms.CenterCrop(size), transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True,
                                         num_workers=2, drop_last=True,
                                         persistent_workers=True)
    netG, netD = (net.to(device) for net in example_nets(size))
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    feed = endless(loader)

    def step() -> None:  # the example's training step, as written there
        real = next(feed)[0].to(device)
        netD.zero_grad()
        label = torch.full((real.size(0),), 1.0, device=device)
        errD_real = criterion(netD(real).view(-1), label)
        errD_real.backward()
        noise = torch.randn(real.size(0), NZ, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()).view(-1), label)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake).view(-1), label)
        errG.backward()
        optG.step()

    return Runner("example", "fp32", step, None, BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="per runner and size, over 5 rounds")
    parser.add_argument("--sizes", default="32,64")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"{args.images:,} random RGB PNGs; {device}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder, root = Path(tmp) / "images", Path(tmp) / "data"
            make_folder(folder, args.images, size)
            preset = with_data_shape(apply_overrides(
                get_registry().preset("dcgan-folder"),
                {"dataset.path": str(folder), "dataset.resolution": size}))
            images, labels = build_component("dataset", preset.dataset).load("train", root)
            theirs, mine, _ = against_ganzoo(example_runner(folder, size, device), preset,
                                             images, labels, device, args.seconds)
            print(f"{size} px: PyTorch's DCGAN example {theirs:,.1f} samples/s, ganzoo "
                  f"{mine:,.1f} samples/s, ganzoo / example {mine / theirs:.3f}")


if __name__ == "__main__":
    main()
