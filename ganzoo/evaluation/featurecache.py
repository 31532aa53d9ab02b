"""Features of real images, computed once per feature extractor and cached in the data root.

A test split scored through Inception-v3 on a CPU takes many minutes; its features (and the
floor's) are the same every time. The cache file is named by what it holds (dataset, split,
resolution, extractor) and keyed by the images' own bytes and the extractor's weights, so an
image folder that changed, or an evaluator trained again, never reads stale features.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor

from ..core.fileio import atomic_write_bytes

FORMAT = "ganzoo-features/1"


class FeatureCache:
    """``<root>/features/<dataset>-<split>-<H>px-<extractor>-<images' hash>.safetensors``."""

    def __init__(self, root: Path, dataset: str, extractor: str) -> None:
        self.folder = Path(root) / "features"
        self.dataset, self.extractor = dataset, extractor

    def path(self, images: Tensor, split: str) -> Path:
        content = hashlib.sha256(images.contiguous().cpu().numpy().data)  # no copy
        content.update(str(tuple(images.shape)).encode())
        return self.folder / (f"{self.dataset}-{split}-{images.shape[-1]}px-{self.extractor}-"
                              f"{content.hexdigest()[:16]}.safetensors")

    def features(self, images: Tensor, split: str,
                 compute: Callable[[], tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        """(features, logits) of uint8 ``images``: read from the cache, or computed by
        ``compute`` and cached."""
        path = self.path(images, split)
        if path.is_file():
            try:
                with safe_open(str(path), framework="pt") as f:
                    if (f.metadata() or {}).get("format") == FORMAT:
                        return f.get_tensor("features"), f.get_tensor("logits")
            except Exception:  # a derived cache: computing it again loses nothing
                pass
        features, logits = compute()
        state = {"features": features.cpu().contiguous(), "logits": logits.cpu().contiguous()}
        atomic_write_bytes(path, safetensors_bytes(state, metadata={"format": FORMAT}))
        return features, logits
