"""Your own image pairs, in pix2pix's and CycleGAN's folder layouts, on
:class:`ganzoo.ImageFiles` (prepared once into the data root, unreadable files skipped and
named, colour or grey, any resolution)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganzoo import DataError, Dataset, ImageFiles, pairs

TEST_FOLDERS = ("test", "val")  # pix2pix's datasets hold val/ where others hold test/
PAIRING_SEED = 0  # which B stands beside each A in an unpaired folder: the same every run


def _root(path: str) -> Path:
    if not str(path):
        raise DataError("the folder's path is not set (dataset.path=DIR)")
    root = Path(path).expanduser().absolute()
    if not root.is_dir():
        raise DataError(f"no folder at {root}")
    return root


def _named(root: Path, files: list[ImageFiles]) -> str:
    """A name for a dataset of the folder ``root``: its own, with a hash of the contents."""
    key = hashlib.sha256("".join(f.key for f in files).encode()).hexdigest()
    return f"{root.name}-{key[:8]}"


class PairedFolder(Dataset):
    """pix2pix's data: under ``path`` -- or its ``train/`` and ``test/`` (or ``val/``)
    folders -- files that each hold A and B side by side (pix2pix's datasets), or folders
    ``A/`` and ``B/`` whose files match by name; ``reverse``: B is the source (the right
    half, pix2pix's ``--direction BtoA``). Unlabelled; ``ganzoo eval`` compares the
    translations of the test sources with their targets (L1, PSNR, SSIM) on Inception's
    features."""

    image_pairs = aligned = True
    num_classes = 0

    def __init__(self, path: str = "", resolution: int = 256, channels: int = 3,
                 reverse: bool = False) -> None:
        root = _root(path)
        self.reverse = bool(reverse)
        train = root / "train"
        if train.is_dir():
            test = next((root / t for t in TEST_FOLDERS if (root / t).is_dir()), train)
        else:
            train = test = root
        self.splits = {"train": self._sides(train, resolution, channels),
                       "test": self._sides(test, resolution, channels)}
        self.sample_shape = (2 * channels, resolution, resolution)
        self.name = f"paired-{_named(root, self.splits['train'])}"

    @staticmethod
    def _sides(folder: Path, resolution: int, channels: int) -> list[ImageFiles]:
        """One ImageFiles of side-by-side pairs, or A's and B's, checked to match by name."""
        if not ((folder / "A").is_dir() and (folder / "B").is_dir()):
            return [ImageFiles(folder, resolution, channels, halves=True)]
        sides = [ImageFiles(folder / side, resolution, channels) for side in "AB"]
        names = [[s.name for s in side.sources] for side in sides]
        if names[0] != names[1]:
            only = sorted(set(names[0]) ^ set(names[1]))
            side, other = ("A", "B") if only[0] in names[0] else ("B", "A")
            raise DataError(f"the paired folder {folder} does not match: {side}/{only[0]} "
                            f"has no {other}/{only[0]} ({len(only)} files without a partner)")
        return sides

    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        sides = self.splits[split]
        if len(sides) == 1:
            images = sides[0].prepared(root).images
        else:
            images = np.concatenate(kept_pairs(sides, root), axis=1)
        images = torch.from_numpy(images)
        return (pairs.swap(images) if self.reverse else images,
                torch.zeros(len(images), dtype=torch.int64))


def kept_pairs(sides: list[ImageFiles], root: Path) -> list[np.ndarray]:
    """A's and B's prepared images, row by row the same file's; a file skipped on one side
    (unreadable) drops its partner too."""
    prepared = [side.prepared(root) for side in sides]
    skipped = [{name for name, _ in p.skipped} for p in prepared]
    names = [s.name for s in sides[0].sources]
    rows = [np.cumsum([n not in gone for n in names]) - 1 for gone in skipped]
    keep = [i for i, n in enumerate(names) if not any(n in gone for gone in skipped)]
    dropped = len(names) - len(keep) - len(skipped[0] & skipped[1])
    if dropped:
        warnings.warn(f"left out {dropped} pairs whose other side could not be read",
                      stacklevel=3)
    return [p.images[r[keep]] for p, r in zip(prepared, rows, strict=True)]


class UnpairedFolder(Dataset):
    """CycleGAN's data: ``path/trainA``, ``trainB`` (and ``testA``, ``testB``; without them
    the test split is the training images), any number of images each. Each A is drawn with
    a B by a fixed shuffle (B's images repeated where A has more, and A's where B has);
    unlabelled, scored on Inception's features."""

    image_pairs = True
    num_classes = 0

    def __init__(self, path: str = "", resolution: int = 256, channels: int = 3) -> None:
        root = _root(path)
        test = "test" if (root / "testA").is_dir() and (root / "testB").is_dir() else "train"
        for side in "AB":
            if not (root / f"train{side}").is_dir():
                raise DataError(f"an unpaired folder holds trainA/ and trainB/ (and testA/, "
                                f"testB/); {root} has no train{side}/")
        self.splits = {split: [ImageFiles(root / f"{folder}{side}", resolution, channels)
                               for side in "AB"]
                       for split, folder in (("train", "train"), ("test", test))}
        self.sample_shape = (2 * channels, resolution, resolution)
        self.name = f"unpaired-{_named(root, self.splits['train'])}"

    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        a, b = (torch.from_numpy(side.prepared(root).images) for side in self.splits[split])
        n = max(len(a), len(b))
        order = torch.randperm(n, generator=torch.Generator().manual_seed(PAIRING_SEED))
        images = pairs.join(a[torch.arange(n) % len(a)], b[order % len(b)])
        return images, torch.zeros(n, dtype=torch.int64)
