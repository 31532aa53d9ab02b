"""Which scorer a dataset's samples get: the network whose features compare them (the
dataset's evaluator or Inception-v3), the real images they are compared with (a coupled
dataset's scoring dataset's, image pairs' targets) and the floor, what real images score."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor

from ..core import pairs
from ..core.build import build_component
from ..core.errors import ConfigError
from ..core.interfaces import ComponentRef, Dataset, Evaluator
from .featurecache import FeatureCache
from .inception import NAME as INCEPTION
from .inception import InceptionFeatures, digest, weights_file
from .quality import (
    EVAL_SAMPLES,
    FEATURES,
    Quality,
    Scorer,
    evaluator_path,
    itself,
    load_evaluator,
)
from .translation import TranslationScorer


def scored_by(dataset: Dataset) -> Dataset:
    """The dataset whose evaluator and test split score ``dataset``'s samples: itself, or
    for coupled images the dataset each of their domains is scored as."""
    if not dataset.scored_by:
        return dataset
    return build_component("dataset", ComponentRef(dataset.scored_by))


def first_domain(dataset: Dataset) -> Callable[[Tensor], Tensor]:
    """A generator's images of ``dataset`` as its scoring dataset's (the first domain)."""
    if not dataset.scored_by:
        return itself
    return lambda images: next(iter(dataset.domains(images).values()))


def target(dataset: Dataset, images: Tensor) -> Tensor:
    """The B side of image pairs, as the scoring dataset's images where another scores."""
    return dataset.domains(images)["B"] if dataset.scored_by else pairs.split(images)[1]


def scorer_for(dataset: Dataset, data_root: Path, device: torch.device,
               say: Callable[[str], None] = print, metrics: Iterable[str] = (),
               features: str | None = None, inception_weights: Path | str | None = None
               ) -> tuple[Scorer, dict]:
    """A scorer of ``dataset``'s samples against the test split of the dataset that scores
    them (with ``metrics`` beyond the defaults), and a record of its features: "domain"
    (that dataset's evaluator network, trained and cached on first use), "inception"
    (Inception-v3's, from ``inception_weights`` or the data root's copy, fetched when
    missing), or None: the domain's where the dataset names an evaluator, else Inception's."""
    scoring = scored_by(dataset)
    features = features or ("domain" if scoring.evaluator else "inception")
    if features == "inception":
        weights = weights_file(data_root, inception_weights, say)
        net: Evaluator = InceptionFeatures(weights).to(device).eval()
        info = {"evaluator": INCEPTION, "dataset": scoring.name, "weights": str(weights)}
        extractor = net.name
    elif features == "domain":
        net, info = load_evaluator(scoring, data_root, device, say)
        extractor = f"{scoring.evaluator}-{digest(evaluator_path(scoring, data_root))}"
    else:
        raise ConfigError(f"features: choose from {', '.join(FEATURES)}; got {features!r}")
    by_class = features == "domain"
    if dataset.image_pairs:  # compared with the targets of its own test pairs
        test_pairs, labels = dataset.load("test", data_root)
        scorer: Scorer = TranslationScorer(
            net, test_pairs, labels, device, functools.partial(target, dataset), metrics,
            FeatureCache(data_root, dataset.name, extractor), by_class, dataset.aligned)
        info = {**info, "dataset": f"{dataset.name} targets'"}  # "... test split"
    else:
        test_images, _ = scoring.load("test", data_root)
        scorer = Scorer(net, test_images, device, first_domain(dataset), metrics,
                        FeatureCache(data_root, scoring.name, extractor), by_class=by_class)
    return scorer, {**info, "features": features}


def floor(scorer: Scorer, dataset: Dataset, data_root: Path, n: int = EVAL_SAMPLES,
          seed: int = 0) -> Quality:
    """The score of ``n`` real training images (of image pairs, their targets): what a
    perfect generator would get."""
    images, _ = (dataset if dataset.image_pairs else scored_by(dataset)).load("train",
                                                                               data_root)
    pick = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return scorer.score_images(images[pick], "train")
