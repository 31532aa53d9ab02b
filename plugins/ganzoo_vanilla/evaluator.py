"""The MNIST-domain evaluator: a small CNN (99% test accuracy) whose features score samples."""

from __future__ import annotations

from torch import Tensor, nn

from ganzoo import Evaluator


class SmallCNN(Evaluator):
    """Two 5x5 conv + max-pool stages and a 128-unit feature layer (about a minute to train
    on 2 CPU cores): 3 epochs reach about 99.2% test accuracy on MNIST."""

    epochs = 3

    def __init__(self, in_shape, num_classes: int, width: int = 16, feature_dim: int = 128):
        super().__init__(in_shape, num_classes)
        channels, height, width_px = self.in_shape
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (height // 4) * (width_px // 4), feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def classify(self, features: Tensor) -> Tensor:
        return self.head(features)
