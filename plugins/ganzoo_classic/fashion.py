"""Fashion-MNIST: local IDX files, torchvision's download, or Debian's packaged files."""

from __future__ import annotations

import shutil
from pathlib import Path

from ganzoo import IDX_SPLITS, IdxDataset, torchvision_download

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # package dataset-fashion-mnist


def copy_debian_files(raw_dir: Path) -> None:
    """Copy the four .gz IDX files that Debian's ``dataset-fashion-mnist`` installs."""
    names = [f"{name}.gz" for pair in IDX_SPLITS.values() for name in pair]
    missing = [n for n in names if not (DEBIAN_DIR / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{DEBIAN_DIR} lacks {', '.join(missing)} (on Debian or "
                                "Ubuntu: apt install dataset-fashion-mnist)")
    for name in names:
        shutil.copyfile(DEBIAN_DIR / name, raw_dir / name)


class FashionMNIST(IdxDataset):
    name = "fashion-mnist"
    folder = "FashionMNIST"  # torchvision's layout, so either tool reads what the other wrote
    evaluator = "fashion-cnn"
    fetchers = (
        ("torchvision download", torchvision_download("FashionMNIST")),
        (f"Debian's files in {DEBIAN_DIR}", copy_debian_files),
    )
    how_to_provide = (
        "Put the four Fashion-MNIST IDX files (raw or .gz) in the folder named first above, "
        "or install Debian's package: apt install dataset-fashion-mnist."
    )
