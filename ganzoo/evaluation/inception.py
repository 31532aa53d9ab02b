"""Inception-v3 features, as the literature's FID, IS and KID use them.

The network is torch-fidelity's port of TensorFlow's "2015-12-05" Inception graph (the FID
paper's weights, resized to 299 px with TensorFlow 1's bilinear interpolation), so ganzoo's
numbers on these features can be set beside a paper's. The weights (91 MB) are fetched once
into ``<data root>/inception/``; ``weights=FILE`` uses a local copy instead.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from ..core.errors import ConfigError, DataError

NAME = "inception-v3-2015-12-05"  # how reports and feature caches name these features
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{WEIGHTS_FILE}"
WEIGHTS_SHA256_PREFIX = "6726825d"  # as the file's name says
BATCH = 50  # images per forward pass: 299 px activations of a larger batch need GBs


def weights_file(data_root: Path, weights: Path | str | None = None,
                 say: Callable[[str], None] = print) -> Path:
    """The Inception weights to use: ``weights`` when given, else the copy in the data
    root, fetched there first when missing (one ``DataError`` saying how to get it when the
    internet cannot be reached; nothing is written then)."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"--inception-weights: no file {path}")
        return path
    path = Path(data_root) / "inception" / WEIGHTS_FILE
    if path.is_file():
        return path
    with tempfile.TemporaryDirectory() as tmp:  # only a whole, checked file reaches the root
        part = Path(tmp) / path.name
        try:
            with urllib.request.urlopen(WEIGHTS_URL, timeout=60) as response:
                say(f"Fetching the Inception weights (91 MB) into {path.parent} for later "
                    "runs.")
                with open(part, "wb") as f:
                    shutil.copyfileobj(response, f)
        except OSError as exc:  # URLError, timeouts, a full disk
            raise DataError(
                f"the Inception weights are not in {path.parent} and could not be fetched "
                f"({getattr(exc, 'reason', exc)}); download {WEIGHTS_URL} on a machine with "
                f"internet and pass it with --inception-weights FILE, or put it in "
                f"{path.parent}/") from None
        if not digest(part, 64).startswith(WEIGHTS_SHA256_PREFIX):
            raise DataError(f"the file fetched from {WEIGHTS_URL} is not the expected one "
                            "(its SHA-256 differs); nothing was kept")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(part, path)
    return path


def digest(path: Path, length: int = 12) -> str:
    """A file's SHA-256 in hex (its first ``length`` digits: a cache key's part)."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:length]


class InceptionFeatures(nn.Module):
    """Inception-v3's 2048 pooled features and its unbiased logits (the IS's classes), with
    an evaluator's interface: float images in [-1, 1], 1 or 3 channels, any size."""

    def __init__(self, weights: Path) -> None:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        super().__init__()
        try:  # torch-fidelity unpickles the file in full: first make sure it only holds data
            torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise DataError(f"{weights} is not an Inception weights file ({exc})") from None
        try:
            self.net = FeatureExtractorInceptionV3(NAME, ["2048", "logits_unbiased"],
                                                   feature_extractor_weights_path=str(weights))
        except RuntimeError as exc:  # a state dict of other shapes or names
            raise DataError(f"{weights} does not hold Inception-v3's weights ({exc})") from None
        self.name = f"{NAME}-{digest(weights)}"

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        # the bytes a PNG of the image would hold, as the reference implementation reads them
        pixels = ((x.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
        if pixels.shape[1] == 1:
            pixels = pixels.expand(-1, 3, -1, -1)
        return torch.cat([self.net(pixels[i:i + BATCH])[0] for i in range(0, len(x), BATCH)])

    @torch.no_grad()
    def classify(self, features: Tensor) -> Tensor:
        return features @ self.net.fc.weight.T  # torch-fidelity's "logits_unbiased"

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.features(x))
