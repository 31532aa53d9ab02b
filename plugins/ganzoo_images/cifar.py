"""CIFAR-10 and CIFAR-100 in torchvision's layout (``<root>/cifar-10-batches-py/``), fetched
through torchvision where the internet is reachable. Their batches are pickles: read with an
unpickler that rebuilds numpy arrays and runs nothing else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganzoo import DataError, Dataset, load_numpy_pickle


class CIFAR10(Dataset):
    """CIFAR-10: 50,000 train / 10,000 test colour images, 3x32x32, 10 classes."""

    name = "cifar10"
    sample_shape = (3, 32, 32)
    num_classes = 10
    evaluator = "cnn"
    folder = "cifar-10-batches-py"
    splits = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    label_key = "labels"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    torchvision_class = "CIFAR10"

    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        if split not in self.splits:
            raise DataError(f"unknown split {split!r}; choose from {', '.join(self.splits)}")
        folder = Path(root) / self.folder
        if self._missing(folder):
            self._fetch(Path(root))
        images, labels = [], []
        for name in self.splits[split]:
            batch = self._read(folder / name)
            images.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[self.label_key], np.int64))
        return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))

    def _missing(self, folder: Path) -> list[str]:
        return [n for names in self.splits.values() for n in names if not (folder / n).is_file()]

    def _fetch(self, root: Path) -> None:
        import torchvision

        try:
            getattr(torchvision.datasets, self.torchvision_class)(root, train=True,
                                                                  download=True)
        except Exception as exc:  # offline, or the download failed
            missing = ", ".join(self._missing(root / self.folder))
            raise DataError(
                f"{self.name} is not in {root / self.folder} ({missing} missing) and could not "
                f"be fetched ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}). "
                f"Download {self.url} and extract it into {root} (it holds {self.folder}/), "
                "or point --data-dir at a data root that does.") from None

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            with path.open("rb") as f:
                batch = load_numpy_pickle(f, encoding="latin1")
        except Exception as exc:  # a refused global, a truncated file
            raise DataError(f"{path} is not a CIFAR batch: {type(exc).__name__}: {exc}") \
                from None
        if not isinstance(batch, dict) or "data" not in batch:
            raise DataError(f"{path} is not a CIFAR batch (no 'data' array)")
        return batch


class CIFAR100(CIFAR10):
    """CIFAR-100: as CIFAR-10, 100 fine classes."""

    name = "cifar100"
    num_classes = 100
    folder = "cifar-100-python"
    splits = {"train": ["train"], "test": ["test"]}
    label_key = "fine_labels"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    torchvision_class = "CIFAR100"
