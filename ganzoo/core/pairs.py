"""Image pairs, the sample of an image-to-image dataset: a source image A and a target B
(of the same scene for paired translation, drawn apart for unpaired), stacked on the channel
axis as one image (2C, H, W), A first. So stored, a pair travels through everything an
image does -- the cache, streaming, flips (both sides at once), batches, DDP, populations,
checkpoints -- and a discriminator of pairs (pix2pix's, conditioned on the source) is a
discriminator of 2C-channel images."""

from __future__ import annotations

import torch
from torch import Tensor

DIRECTIONS = ("AB", "BA")  # A to B, B to A


def split(pairs: Tensor) -> tuple[Tensor, Tensor]:
    """``(A, B)`` of pairs (..., 2C, H, W): each (..., C, H, W)."""
    a, b = pairs.chunk(2, dim=-3)
    return a, b


def join(a: Tensor, b: Tensor) -> Tensor:
    """Images of domain A and of domain B (..., C, H, W) as pairs (..., 2C, H, W)."""
    return torch.cat([a, b], dim=-3)


def swap(pairs: Tensor) -> Tensor:
    """(B, A): each side where the other was."""
    a, b = split(pairs)
    return join(b, a)


def side_by_side(*images: Tensor) -> Tensor:
    """Images of one shape (N, C, H, W) as one row each (N, C, H, k W), for a grid."""
    return torch.cat(images, dim=-1)


def rows(given: Tensor, made: Tensor, directions: tuple[str, ...]) -> Tensor:
    """What a translator made of pairs, one row per pair: source A, its translation, B (the
    target, for aligned pairs), and B's translation where G translates both ways."""
    a, b = split(given)
    made_a, made_b = split(made)
    return side_by_side(a, made_b, b, *((made_a,) if "BA" in directions else ()))
