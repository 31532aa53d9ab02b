"""``ganzoo.check_folder``: what a folder of images becomes before a model sees it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.datasets import default_data_root
from ..core.folders import ImageFiles
from ..engine.batches import to_unit_range
from ..engine.images import save_grid


@dataclass(frozen=True)
class FolderCheck:
    """A prepared folder: its counts, classes, sizes and the files skipped with why."""

    path: Path
    resolution: int
    channels: int
    images: int  # prepared
    files: int  # image files found
    classes: dict[str, int] = field(default_factory=dict)  # name -> images (labels=folders)
    bytes_on_disk: int = 0
    bytes_prepared: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cache: Path | None = None
    grid: Path | None = None

    def __str__(self) -> str:
        mode = "RGB" if self.channels == 3 else "grayscale"
        lines = [f"{self.path}: {self.images:,} images prepared at {self.resolution}x"
                 f"{self.resolution} {mode} ({self.files:,} image files, "
                 f"{len(self.skipped):,} skipped)"]
        if self.classes:
            lines.append(f"{len(self.classes)} classes: " + ", ".join(
                f"{name} {count:,}" for name, count in self.classes.items()))
        lines.append(f"size: {_size(self.bytes_on_disk)} on disk, "
                     f"{_size(self.bytes_prepared)} prepared in {self.cache}")
        if self.skipped:
            lines.append("skipped:")
            lines += [f"  {name}: {why}" for name, why in self.skipped]
        if self.grid is not None:
            lines.append(f"what the model sees: {self.grid}")
        return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"


def check_folder(path: Path | str, resolution: int = 64, channels: int = 3,
                 labels: str = "none", *, data_dir: Path | str | None = None,
                 grid: Path | str | None = None, n: int = 64) -> FolderCheck:
    """Prepare (or reuse) the image folder ``path`` as ``image-folder`` would, in the data
    root, and report what it holds; ``grid`` writes ``n`` prepared images as one PNG."""
    files = ImageFiles(path, resolution, channels, labels)
    root = Path(data_dir) if data_dir else default_data_root()
    prepared = files.prepared(root)
    counts = Counter(prepared.labels.tolist())
    if grid is not None:
        save_grid(to_unit_range(torch.from_numpy(prepared.images[:n])), Path(grid))
    return FolderCheck(
        path=files.path, resolution=resolution, channels=channels,
        images=len(prepared.images), files=prepared.files,
        classes={name: counts[i] for i, name in enumerate(files.classes)},
        bytes_on_disk=prepared.bytes_on_disk,
        bytes_prepared=prepared.images.nbytes + prepared.labels.nbytes,
        skipped=list(prepared.skipped), cache=files.cache(root),
        grid=None if grid is None else Path(grid))
