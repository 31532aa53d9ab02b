"""Two image-to-image datasets made from MNIST, so the family trains and is scored offline:
edges to digits (paired) and digits to thickened digits (unpaired). Digits are padded to 32
px (the U-Net halves its input down to 1x1); each pair is labelled with its source's digit,
and ``ganzoo eval`` reports how often a translation is still classified as that digit."""

from __future__ import annotations

import abc
from pathlib import Path

import torch
import torch.nn.functional as F
from ganzoo_vanilla.mnist import MNIST
from torch import Tensor

from ganzoo import Dataset, pairs

PAD = 2  # 28 px digits padded to 32
SIDE = 32
RESOLUTIONS = (32, 64, 128, 256)
CHUNK = 5000  # pairs scaled up at a time
PAIRING_SEED = 0  # which thickened digit stands beside each digit: the same every run


def dilate(images: Tensor) -> Tensor:
    """3x3 grey-level dilation (the brightest neighbour) of uint8 images."""
    return F.max_pool2d(images.float(), 3, 1, 1).to(torch.uint8)


def erode(images: Tensor) -> Tensor:
    return 255 - dilate(255 - images)


class DerivedMNIST(Dataset):
    """MNIST digits turned into pairs, 1x32x32 a side -- or scaled up bilinearly to
    ``resolution`` 64 to 256 -- and scored by MNIST's evaluator on the digit in each side's
    middle 28x28 (scaled back)."""

    num_classes = 10
    scored_by = "mnist"
    image_pairs = True

    def __init__(self, train_images: int = 0, resolution: int = 32) -> None:
        if not (isinstance(train_images, int) and train_images >= 0):
            raise ValueError(f"train_images is a number of pairs (0: all), got "
                             f"{train_images!r}")
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution is one of {', '.join(map(str, RESOLUTIONS))}; got "
                             f"{resolution!r}")
        self.digits, self.train_images = MNIST(), train_images
        self.sample_shape = (2, resolution, resolution)

    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        """The split's pairs; for "train", the first ``train_images`` (0: all 60,000)."""
        images, labels = self.digits.load(split, root)
        if split == "train" and self.train_images:
            images, labels = images[:self.train_images], labels[:self.train_images]
        made = self.make_pairs(F.pad(images, (PAD,) * 4))
        size = self.sample_shape[-1]
        if size == SIDE:
            return made, labels
        return torch.cat([F.interpolate(chunk.float(), size=size, mode="bilinear")
                          .round_().clamp_(0, 255).to(torch.uint8)
                          for chunk in made.split(CHUNK)]), labels

    @abc.abstractmethod
    def make_pairs(self, digits: Tensor) -> Tensor:
        """Padded uint8 digits (N, 1, 32, 32) -> their pairs (N, 2, 32, 32)."""

    def domains(self, images: Tensor) -> dict[str, Tensor]:
        if images.shape[-1] != SIDE:
            images = F.interpolate(images, size=SIDE, mode="area")
        a, b = pairs.split(images[..., PAD:-PAD, PAD:-PAD])
        return {"A": a, "B": b}


class EdgesToMNIST(DerivedMNIST):
    """pix2pix's edges-to-image task on digits: A is a digit's outline (its morphological
    gradient, dilation minus erosion), B the digit itself."""

    name = "edges2mnist"
    aligned = True

    def make_pairs(self, digits: Tensor) -> Tensor:
        return pairs.join(dilate(digits) - erode(digits), digits)


class RestyledMNIST(DerivedMNIST):
    """CycleGAN's unpaired setting on digits: A is a digit, B another digit thickened (a
    3x3 dilation), paired by a fixed shuffle -- so nothing but the losses can teach G which
    thick digit a thin one becomes."""

    name = "mnist-restyle"

    def make_pairs(self, digits: Tensor) -> Tensor:
        order = torch.randperm(len(digits),
                               generator=torch.Generator().manual_seed(PAIRING_SEED))
        return pairs.join(digits, dilate(digits[order]))
