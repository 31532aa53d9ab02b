"""How well a translator translates, on the test split's pairs: its translations of the
sources against the targets -- on the scoring network's features (FID and the rest, as any
generator's samples), how often the network sees the source's class in the translation
(``class_accuracy``: MNIST's digit kept), and for aligned pairs the distance to each target
in pixels (L1, PSNR, SSIM; torchmetrics' formulas)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from ..core import pairs
from ..core.interfaces import Evaluator, Generator
from ..engine.batches import to_unit_range
from .featurecache import FeatureCache
from .quality import CHUNK, EVAL_SAMPLES, Quality, Scorer


class TranslationScorer(Scorer):
    """A :class:`~.quality.Scorer` of a translator: the test pairs are both what its
    translations are compared with (their targets, through ``view``) and what it
    translates (their sources); ``labels`` are the sources' classes."""

    def __init__(self, evaluator: Evaluator, test_pairs: Tensor, labels: Tensor,
                 device: torch.device, view: Callable[[Tensor], Tensor],
                 metrics: Iterable[str] = (), cache: FeatureCache | None = None,
                 by_class: bool = True, aligned: bool = False) -> None:
        super().__init__(evaluator, test_pairs, device, view, metrics, cache, by_class,
                         real_view=view)
        self.test_pairs, self.labels, self.aligned = test_pairs, labels, aligned

    @torch.no_grad()
    def score_generator(self, generator: Generator, n: int = EVAL_SAMPLES,
                        seed: int = 0) -> Quality:
        """Score the translations A -> B of the first ``n`` test pairs (all of them when
        fewer); deterministic, so ``seed`` is unused."""
        if not generator.translates:
            return super().score_generator(generator, n, seed)
        was_training = generator.training
        generator.eval()
        given = self.test_pairs[:n]
        made_b, views = [], []
        try:
            for i in range(0, given.shape[0], CHUNK):
                chunk = to_unit_range(given[i:i + CHUNK].to(self.device))
                made = generator(chunk).float()
                views.append(self.view(made))
                made_b.append(pairs.split(made)[1].clamp(-1, 1).cpu())
        finally:
            generator.train(was_training)
        quality = self.score_batches(views, self.labels[:given.shape[0]])
        if not self.aligned:
            return quality
        return dataclasses.replace(quality, **distances(torch.cat(made_b),
                                                        pairs.split(given)[1]))


def distances(made: Tensor, targets: Tensor) -> dict[str, float]:
    """L1, PSNR and SSIM of translations (float, [-1, 1]) to their targets (uint8), both
    scaled to [0, 1]; PSNR and SSIM are means over the images."""
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    x, y = (made + 1) / 2, targets.float() / 255
    return {"l1": (x - y).abs().mean().item(),
            "psnr": peak_signal_noise_ratio(x, y, data_range=1.0, dim=(1, 2, 3)).item(),
            "ssim": structural_similarity_index_measure(x, y, data_range=1.0).item()}
