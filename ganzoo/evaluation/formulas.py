"""The literature's sample-quality formulas on feature vectors, computed by torch-fidelity.

ganzoo computes features (its domain evaluator's, or Inception-v3's) and leaves every formula
to torch-fidelity, the reference implementation that papers cite, with its own defaults (the
same split order and subsets, seeded), so the same features give the same numbers as
``torch_fidelity.calculate_metrics``:

- FID: Frechet distance of Gaussians fitted to the two feature sets, 0 is best;
- IS: exp(E KL(p(y|x) || p(y))) over 10 splits, from 1 to the number of classes;
- KID: unbiased MMD^2 with a cubic polynomial kernel, mean and std over 100 subsets;
- precision and recall (Kynkaanniemi et al. 2019): the share of one set inside the other's
  k-nearest-neighbour balls (k = 3); precision asks how many samples look real, recall how
  much of the data the samples cover.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

# torch-fidelity is imported where a formula runs: it loads torchvision, which a command that
# scores nothing (``ganzoo list``) should not wait for

QUIET = {"verbose": False}
SPLITS = 10  # of the Inception Score
KID_SUBSET = 1000  # images per KID subset (fewer when a set is smaller)
K = 3  # precision / recall's neighbourhood


def frechet_statistics(features: Tensor) -> dict[str, Any]:
    """Mean and covariance of (N, F) features: one side of a Frechet distance."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    return fid_features_to_statistics(features.detach().cpu().float())


def frechet_distance(real: dict[str, Any], fake: dict[str, Any]) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    return fid_statistics_to_metric(real, fake, verbose=False)["frechet_inception_distance"]


def inception_score(logits: Tensor) -> float:
    """The Inception-Score formula on (N, classes) logits."""
    from torch_fidelity.metric_isc import isc_features_to_metric

    splits = min(SPLITS, len(logits))
    logits = logits.detach().cpu().double()
    # a class whose probability underflows to 0 in every sample makes p * log(p / q) = 0 * inf
    # = NaN; capping log-odds at -100 (in float64) changes nothing else
    logits = (logits - logits.amax(1, keepdim=True)).clamp(min=-100)
    return isc_features_to_metric(logits, splits)["inception_score_mean"]


def kernel_distance(real: Tensor, fake: Tensor) -> tuple[float, float]:
    """KID's (mean, std) of ``fake`` features against ``real`` ones."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    size = min(KID_SUBSET, len(real), len(fake))
    out = kid_features_to_metric(fake.detach().cpu().float(), real.detach().cpu().float(),
                                 kid_subset_size=size, **QUIET)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


def precision_recall(real: Tensor, fake: Tensor, k: int = K) -> tuple[float, float]:
    """(precision, recall) of ``fake`` features against ``real`` ones, both (N, F)."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k={k} points for a manifold, got "
                         f"{min(len(real), len(fake))}")
    out = prc_features_to_metric(fake.detach().float(), real.detach().float(),
                                 prc_neighborhood=k, prc_batch_size=1000, save_cpu_ram=True,
                                 **QUIET)
    return out["precision"], out["recall"]
