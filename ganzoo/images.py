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
    """Plot loss D and loss G per epoch and, when measured, FID and classifier score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in records if "quality" in r]
    fig, axes = plt.subplots(2 if scored else 1, 1, figsize=(7, 7 if scored else 4), dpi=100,
                             sharex=True, squeeze=False)
    ax = axes[0, 0]
    epochs = [r["epoch"] for r in records]
    ax.plot(epochs, [r["loss_d"] for r in records], label="loss D")
    ax.plot(epochs, [r["loss_g"] for r in records], label="loss G")
    ax.set_ylabel("loss (epoch mean)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    if scored:
        ax = axes[1, 0]
        x = [r["epoch"] for r in scored]
        ax.plot(x, [r["quality"]["fid"] for r in scored], "o-", color="C2", label="FID")
        ax.set_ylabel("FID (lower is better)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        right = ax.twinx()
        right.plot(x, [r["quality"]["classifier_score"] for r in scored], "s-", color="C3",
                   label="classifier score")
        right.set_ylabel("classifier score (higher is better)")
        fig.legend(loc="lower right", bbox_to_anchor=(0.85, 0.12))
    axes[-1, 0].set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
