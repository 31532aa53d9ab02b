"""The Fashion-MNIST evaluator: the MNIST CNN, twice as wide and trained longer."""

from __future__ import annotations

from ganzoo_vanilla.evaluator import SmallCNN


class FashionCNN(SmallCNN):
    """Two 5x5 conv stages of 32 and 64 channels and a 128-unit feature layer, 5 epochs."""

    epochs = 5

    def __init__(self, in_shape, num_classes: int, width: int = 32, feature_dim: int = 128):
        super().__init__(in_shape, num_classes, width, feature_dim)
