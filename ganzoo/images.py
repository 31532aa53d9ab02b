"""Sample grids and the loss curve, written as PNG files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.utils import save_image


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None) -> None:
    """Save images in [-1, 1] shaped (N, C, H, W) as one PNG grid."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    save_image(images.detach().float().cpu(), path, nrow=nrow, normalize=True,
               value_range=(-1, 1), padding=2)


def save_loss_plot(records: Sequence[dict], path: Path, title: str) -> None:
    """Plot loss D and loss G per epoch from metrics records."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(epochs, [r["loss_d"] for r in records], label="loss D")
    ax.plot(epochs, [r["loss_g"] for r in records], label="loss G")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (epoch mean)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
