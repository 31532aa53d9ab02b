"""Image datasets stored as IDX files in torchvision's layout, fetched on first use.

``<root>/<folder>/raw/train-images-idx3-ubyte`` etc. -- the same files torchvision reads, so
``torchvision.datasets.MNIST(root)`` works on a root that ganzoo filled, and vice versa.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .errors import DataError
from .idx import read_idx
from .interfaces import UNLABELED, Dataset, Shape

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# A fetcher fills ``raw_dir`` with the four IDX files or raises; its name appears in errors.
Fetcher = Callable[[Path], None]


def torchvision_download(class_name: str) -> Fetcher:
    """A fetcher through ``torchvision.datasets.<class_name>(download=True)``, which writes the
    IDX files to ``<root>/<class_name>/raw``; it fails within seconds on an offline machine."""

    def fetch(raw_dir: Path) -> None:
        import socket

        import torchvision

        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(15)
        try:
            getattr(torchvision.datasets, class_name)(raw_dir.parent.parent, train=True,
                                                      download=True)
        finally:
            socket.setdefaulttimeout(old)

    return fetch


def default_data_root() -> Path:
    """Where data lives unless ``--data-dir`` says: ``$GANZOO_DATA``, else
    ``$XDG_CACHE_HOME/ganzoo``, else ``~/.cache/ganzoo``. The one statement of that rule."""
    if os.environ.get("GANZOO_DATA"):
        return Path(os.environ["GANZOO_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ganzoo"


def find_idx(raw_dir: Path, name: str) -> Path | None:
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


class IdxDataset(Dataset):
    """A dataset of single-channel images in the four MNIST-style IDX files.

    Subclasses name the ``folder`` and list ``fetchers`` to try, in order, when files are
    missing; each fetcher is a ``(name, callable)`` pair.
    """

    folder: str
    sample_shape: Shape = (1, 28, 28)
    num_classes: int = 10
    fetchers: Sequence[tuple[str, Fetcher]] = ()
    how_to_provide: str = ""

    def __init__(self, labeled_per_class: int = 0) -> None:
        """``labeled_per_class`` > 0 keeps the labels of that many training images of each
        class (the same ones in every run) and marks the rest UNLABELED, for
        semi-supervised training; 0 keeps every label."""
        if labeled_per_class < 0:
            raise ValueError(f"labeled_per_class must be >= 0, got {labeled_per_class}")
        self.labeled_per_class = int(labeled_per_class)

    def raw_dir(self, root: Path) -> Path:
        return Path(root) / self.folder / "raw"

    def missing_files(self, root: Path) -> list[str]:
        raw = self.raw_dir(root)
        return [n for pair in SPLITS.values() for n in pair if find_idx(raw, n) is None]

    def ensure(self, root: Path) -> None:
        """Make sure the IDX files are under ``root``, trying each fetcher in turn."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise DataError(f"data root {root} is not a directory")
        if not self.missing_files(root):
            return
        try:
            self.raw_dir(root).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create {self.raw_dir(root)}: {exc.strerror}") from None
        tried = [f"IDX files under {self.raw_dir(root)}: {', '.join(self.missing_files(root))} "
                 "missing"]
        for name, fetch in self.fetchers:
            try:
                fetch(self.raw_dir(root))
            except Exception as exc:  # each route may fail for its own reasons; try the next
                tried.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            if not self.missing_files(root):
                return
            tried.append(f"{name}: finished without writing {', '.join(self.missing_files(root))}")
        raise DataError(
            f"could not find or fetch {self.name}. Tried: " + "; ".join(tried)
            + f". {self.how_to_provide}".rstrip()
            + " (Or point --data-dir at a data root that holds them.)"
        )

    def load(self, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        self.ensure(root)
        raw = self.raw_dir(root)
        image_name, label_name = SPLITS[split]
        images = read_idx(find_idx(raw, image_name))
        labels = read_idx(find_idx(raw, label_name))
        c, h, w = self.sample_shape
        if images.ndim != 3 or tuple(images.shape[1:]) != (h, w):
            raise DataError(f"{raw / image_name}: images are {tuple(images.shape[1:])}, "
                            f"expected {(h, w)}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{raw / label_name}: {labels.shape[0]} labels for "
                            f"{images.shape[0]} images")
        labels = labels.long()
        if split == "train" and self.labeled_per_class:
            labels = keep_labels(labels, self.labeled_per_class, self.num_classes)
        return images.unsqueeze(1), labels


LABEL_SUBSET_SEED = 0  # which images keep their labels: fixed, so every run sees the same


def keep_labels(labels: torch.Tensor, per_class: int, num_classes: int) -> torch.Tensor:
    """``labels`` with all but ``per_class`` of each class (drawn by a fixed seed, not the
    global RNG) set to UNLABELED."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(LABEL_SUBSET_SEED))
    kept = torch.full_like(labels, UNLABELED)
    for k in range(num_classes):
        chosen = order[labels[order] == k][:per_class]
        if len(chosen) < per_class:
            raise DataError(f"class {k} has {len(chosen)} training images; cannot keep "
                            f"{per_class} labels of it (set dataset.labeled_per_class lower)")
        kept[chosen] = k
    return kept
