"""The tutorial's training loop, as written, over any preset's components: the baseline.

What makes it the tutorial's: a DataLoader over PIL images with RandomHorizontalFlip +
ToTensor + Normalize per sample; separate D forward passes on the real and the (not
detached) fake batch; ``backward(retain_graph=True)`` (so D's loss also back-propagates
through G); the G step re-running D on the same fake batch; plain (unfused) Adam. The
tutorial's Sigmoid + BCELoss is what ``NonSaturatingBCE`` computes on logits (a test checks
the two agree on the same batch).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torchvision import transforms

from ..core.interfaces import Discriminator, GANLoss, Generator


class PILImages(TorchDataset):
    """Serves uint8 (N, C, H, W) images as PIL images, as torchvision's MNIST does."""

    def __init__(self, images: Tensor, labels: Tensor, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int):
        image = self.images[i]
        array = image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()
        return self.transform(Image.fromarray(array)), int(self.labels[i])


def tutorial_loader(images: Tensor, labels: Tensor, batch_size: int, hflip: bool) -> DataLoader:
    steps = [transforms.RandomHorizontalFlip()] if hflip else []
    steps += [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    return DataLoader(PILImages(images, labels, transforms.Compose(steps)),
                      batch_size=batch_size, shuffle=True)


class TutorialStep:
    """One step of the tutorial's loop (on the given device)."""

    def __init__(self, generator: Generator, discriminator: Discriminator, loss: GANLoss,
                 lr_g: float, lr_d: float, betas: tuple[float, float]) -> None:
        self.generator, self.discriminator, self.loss = generator, discriminator, loss
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)

    def __call__(self, real: Tensor) -> tuple[Tensor, Tensor]:
        gen, disc = self.generator, self.discriminator
        noise = gen.sample_noise(real.shape[0], real.device)
        fake = gen(noise)
        loss_d = self.loss.discriminator_loss(disc(real), disc(fake))
        disc.zero_grad()
        loss_d.backward(retain_graph=True)
        self.opt_d.step()

        loss_g = self.loss.generator_loss(disc(fake))
        gen.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        return loss_d.detach(), loss_g.detach()


def tutorial_batches(loader: DataLoader, device: torch.device) -> Iterator[Tensor]:
    """Endless real batches from the loader, moved to the device as the tutorial does."""
    while True:
        for real, _ in loader:
            yield real.to(device)
