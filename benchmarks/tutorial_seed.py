"""The tutorial's code (shared/seed), kept as written: the baseline ganzoo is measured against.

Only two things are changed: the dataset is given (not downloaded), and the loop body is a
function so that it can be timed one step at a time. Run as a script, it is the tutorial's
whole program (its transforms, loader, epoch loop and per-epoch print; the matplotlib grid
every 50 epochs is left out) on MNIST already on disk:

    python benchmarks/tutorial_seed.py --data-dir ~/.cache/ganzoo/data --epochs 3
"""

import argparse

import torch
from torch import nn, optim
from torch.utils.data import DataLoader


class Discriminator(nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.disc = nn.Sequential(
            nn.Linear(in_features, 256),
            nn.LeakyReLU(0.1),
            nn.Linear(256, 128),
            nn.LeakyReLU(0.1),
            nn.Linear(128, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.disc(x)


class Generator(nn.Module):
    def __init__(self, z_dim, img_dim):
        super().__init__()
        self.gen = nn.Sequential(
            nn.Linear(z_dim, 256),
            nn.LeakyReLU(0.1),
            nn.Linear(256, 512),
            nn.LeakyReLU(0.1),
            nn.Linear(512, img_dim),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.gen(x)


LR = 3e-4
Z_DIM = 64
IMG_DIM = 28 * 28 * 1
BS = 64


class Tutorial:
    """The tutorial's objects: models, optimisers, criterion and loader."""

    def __init__(self, dataset, device="cpu", batch_size=BS):
        self.device = device
        self.disc = Discriminator(IMG_DIM).to(device)
        self.gen = Generator(Z_DIM, IMG_DIM).to(device)
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
        self.opt_disc = optim.Adam(self.disc.parameters(), lr=LR)
        self.opt_gen = optim.Adam(self.gen.parameters(), lr=LR)
        self.criterion = nn.BCELoss()

    def batches(self):
        while True:
            yield from self.loader

    def step(self, real):
        """One iteration of the tutorial's inner loop, verbatim."""
        gen, disc, criterion = self.gen, self.disc, self.criterion
        real = real.view(-1, 784).to(self.device)
        batch_size = real.shape[0]
        noise = torch.randn(batch_size, Z_DIM).to(self.device)
        fake = gen(noise)
        disc_real = disc(real).view(-1)
        lossD_real = criterion(disc_real, torch.ones_like(disc_real))
        disc_fake = disc(fake).view(-1)
        lossD_fake = criterion(disc_fake, torch.zeros_like(disc_fake))
        lossD = (lossD_real + lossD_fake) / 2
        disc.zero_grad()
        lossD.backward(retain_graph=True)
        self.opt_disc.step()

        output = disc(fake).view(-1)
        lossG = criterion(output, torch.ones_like(output))
        gen.zero_grad()
        lossG.backward()
        self.opt_gen.step()
        return lossD, lossG


def main() -> None:
    from torchvision import datasets, transforms

    parser = argparse.ArgumentParser(description="the tutorial's training program")
    parser.add_argument("--data-dir", required=True, help="a root holding MNIST/raw")
    parser.add_argument("--epochs", type=int, default=101)
    args = parser.parse_args()
    tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize((0.5,), (0.5,))])
    tutorial = Tutorial(datasets.MNIST(root=args.data_dir, transform=tf, download=False))
    for epoch in range(args.epochs):
        for real, _ in tutorial.loader:
            lossD, lossG = tutorial.step(real)
        print(f"Epoch [{epoch}/{args.epochs}] Loss D: {lossD:.4f}, loss G: {lossG:.4f}",
              flush=True)


if __name__ == "__main__":
    main()
