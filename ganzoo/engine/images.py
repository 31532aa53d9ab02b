"""Sample grids and the loss curve, written as PNG files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

PADDING = 2  # black pixels between and around the images of a grid


def grid(images: torch.Tensor, nrow: int, padding: int = PADDING) -> torch.Tensor:
    """Images in [-1, 1] (N, C, H, W) -> one uint8 (H', W', C) array, ``nrow`` per row,
    ``padding`` black pixels apart.

    Written here rather than with torchvision.utils, whose import alone costs as much as
    importing torch: every ``ganzoo train`` and ``sample`` would pay for it.
    """
    x = images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).add(0.5).to(torch.uint8)
    n, c, h, w = x.shape
    rows = math.ceil(n / nrow)
    out = torch.zeros(c, rows * (h + padding) + padding, nrow * (w + padding) + padding,
                      dtype=torch.uint8)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        out[:, top:top + h, left:left + w] = x[i]
    return out.permute(1, 2, 0)


def save_grid(images: torch.Tensor, path: Path, nrow: int | None = None,
              padding: int = PADDING) -> None:
    """Save images in [-1, 1] shaped (N, C, H, W) as one PNG grid (one image: padding 0)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    pixels = grid(images, nrow, padding).numpy()
    Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(path)


def save_loss_plot(records: Sequence[dict], path: Path, title: str) -> None:
    """Plot loss D and loss G per epoch and, when measured, FID and classifier score."""
    # a bare Figure, not pyplot: no global backend switch in the caller's process, no figure
    # registry to close, and a third less import time (matplotlib is imported only here)
    from matplotlib.figure import Figure

    scored = [r for r in records if "quality" in r]
    fig = Figure(figsize=(7, 7 if scored else 4), dpi=100)
    axes = fig.subplots(2 if scored else 1, 1, sharex=True, squeeze=False)
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
