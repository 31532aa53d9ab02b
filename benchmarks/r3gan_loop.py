"""R3GAN: ``ganzoo train r3gan-mnist``'s step against the loop a user would otherwise write.

    python benchmarks/r3gan_loop.py [--seconds 60] [--device cpu] [--preset r3gan-mnist]

R3GAN's own trainer needs custom CUDA kernels, so the comparison is the straightforward
PyTorch loop its paper describes, with the same networks (this repository's ``r3gan`` G and D,
built from the preset) and batch 64: torchvision's MNIST through ToTensor and Normalize in a
DataLoader; D's update on the relativistic pairing loss plus R1 and R2 (the input gradients
of both passes, taken with create_graph), then G's on fresh noise, each with Adam
(lr 2e-4, betas 0/0.99), then the EMA of G. Both run in one process in alternating blocks
(ganzoo.benchmark.throughput.measure); ganzoo's step is fed by its on-device data path.

Prints samples/s of each and ganzoo / loop.
"""

import argparse

import torch
import torch.nn.functional as F
from dcgan_example import against_ganzoo, endless  # this folder's

from ganzoo.benchmark.throughput import Runner
from ganzoo.core.build import build_component
from ganzoo.core.datasets import default_data_root
from ganzoo.core.plugins import get_registry

BATCH = 64


def loop_runner(preset, root, device: torch.device) -> Runner:
    import torchvision
    import torchvision.transforms as transforms

    dataset = torchvision.datasets.MNIST(root, train=True, download=False, transform=(
        transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])))
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True,
                                         drop_last=True)
    G = build_component("generator", preset.generator).to(device)
    D = build_component("discriminator", preset.discriminator).to(device)
    ema = build_component("generator", preset.generator).to(device).requires_grad_(False)
    ema.load_state_dict(G.state_dict())
    gamma = preset.loss.kwargs["gamma"]
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.99))

    feed = endless(loader)

    def step() -> None:
        real = next(feed)[0].to(device).requires_grad_(True)
        fake = G(torch.randn(BATCH, G.z_dim, device=device)).detach().requires_grad_(True)
        real_logits, fake_logits = D(real), D(fake)
        r1, r2 = torch.autograd.grad((real_logits.sum(), fake_logits.sum()), (real, fake),
                                     create_graph=True)
        penalty = r1.square().sum((1, 2, 3)).mean() + r2.square().sum((1, 2, 3)).mean()
        loss_d = F.softplus(-(real_logits - fake_logits)).mean() + gamma / 2 * penalty
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        fake = G(torch.randn(BATCH, G.z_dim, device=device))
        loss_g = F.softplus(-(D(fake) - D(real.detach()))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.no_grad():
            for kept, live in zip(ema.parameters(), G.parameters(), strict=True):
                kept.lerp_(live, 1 - 0.999)

    return Runner("loop", "fp32", step, None, BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per runner, 5 rounds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="r3gan-mnist")
    args = parser.parse_args()
    device, root = torch.device(args.device), default_data_root()
    preset = get_registry().preset(args.preset)
    dataset = build_component("dataset", preset.dataset)
    dataset.ensure(root)
    images, labels = dataset.load("train", root)
    theirs, mine, impl = against_ganzoo(loop_runner(preset, root, device), preset, images,
                                        labels, device, args.seconds, BATCH,
                                        cuda_graphs=device.type == "cuda")
    print(f"{args.preset} on {device}, batch {BATCH}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads: the plain loop {theirs:,.1f} samples/s, "
          f"ganzoo ({impl}) {mine:,.1f} samples/s, ganzoo / loop {mine / theirs:.3f}")


if __name__ == "__main__":
    main()
