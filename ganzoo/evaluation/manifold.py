"""Improved precision and recall (Kynkaanniemi et al. 2019) on any feature vectors.

Each set's manifold is the union of balls around its points, each reaching the point's k-th
nearest neighbour in the set. Precision is the share of generated points inside the real
manifold (how many samples look real), recall the share of real points inside the generated
one (how much of the data the samples cover). Distances are computed in chunks, so 10,000
points need a few tens of MB.
"""

from __future__ import annotations

import torch
from torch import Tensor

K = 3  # the paper's neighbourhood size
CHUNK = 1000


def radii(points: Tensor, k: int = K) -> Tensor:
    """Each point's distance to its k-th nearest other point of the set."""
    if len(points) <= k:
        raise ValueError(f"need more than k={k} points for a manifold, got {len(points)}")
    return torch.cat([torch.cdist(points[i:i + CHUNK], points).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(points), CHUNK)])


def inside(points: Tensor, centres: Tensor, reach: Tensor) -> float:
    """The share of ``points`` within ``reach`` of some centre."""
    hits = [(torch.cdist(points[i:i + CHUNK], centres) <= reach).any(1)
            for i in range(0, len(points), CHUNK)]
    return torch.cat(hits).double().mean().item()


def precision_recall(real: Tensor, fake: Tensor, k: int = K) -> tuple[float, float]:
    """(precision, recall) of ``fake`` features against ``real`` ones, both (N, F)."""
    real, fake = real.double(), fake.double()
    return inside(fake, real, radii(real, k)), inside(real, fake, radii(fake, k))
