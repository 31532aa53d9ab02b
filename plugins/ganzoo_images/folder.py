"""Your own images: any folder (or .zip) of PNG, JPEG, WebP or BMP files as a dataset."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ganzoo import Dataset, ImageFiles


class ImageFolder(Dataset):
    """Every image under ``path``, square at ``resolution`` px, with ``channels`` 3 or 1.
    ``labels = "folders"``: one class per first-level folder (a conditional preset may use
    them, and ganzoo trains a CNN on them to score samples); "none": unlabelled, scored on
    Inception-v3's features (``ganzoo eval --features inception``, its default here).
    Prepared once into the data root's ``prepared/``; a
    folder has no test split, so "test" is the same images as "train"."""

    def __init__(self, path: str = "", resolution: int = 64, channels: int = 3,
                 labels: str = "none") -> None:
        self.files = ImageFiles(path, resolution, channels, labels)
        self.sample_shape = (channels, resolution, resolution)
        self.num_classes = len(self.files.classes)
        self.evaluator = "cnn" if self.num_classes > 1 else None
        # named by the folder and its contents: each prepared folder has its own evaluator
        self.name = f"folder-{self.files.path.name}-{self.files.key[:8]}"

    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        prepared = self.files.prepared(root, mmap=True)  # read as needed: may stream
        return torch.from_numpy(prepared.images), torch.from_numpy(prepared.labels)
