"""``evaluate``: a trained generator's sample quality next to the real-data floor, as a
:class:`Report`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.build import build_component
from ..core.datasets import default_data_root
from ..core.errors import ConfigError
from ..engine.devices import resolve_device
from .quality import EVAL_SAMPLES, METRICS, Quality
from .sampling import load_generator
from .scorers import floor, scorer_for
from .structure import (
    categorical_code,
    cluster_purity,
    code_accuracy,
    discriminator_accuracy,
    domain_scores,
)


@dataclass(frozen=True)
class Report:
    """The quality of ``n`` samples of a trained generator, and of ``n`` real training
    images (the floor: what a perfect generator would score), against the test split."""

    source: str  # the run directory or checkpoint scored
    preset: str
    epoch: int  # epochs the generator was trained for
    n: int
    generator: Quality
    floor: Quality | None
    evaluator: dict[str, Any] = field(default_factory=dict)  # its name, dataset, accuracy
    # a generator with a categorical latent code: the share of samples whose code decides
    # the evaluator's class, and the class matched to each code value
    code_accuracy: float | None = None
    code_classes: list[int] | None = None
    d_accuracy: float | None = None  # a D that predicts classes: its test-split accuracy
    # an objective that clusters images (ClusterGAN): the purity of the test split's clusters
    cluster_purity: float | None = None
    # coupled images (CoGAN): each domain's quality and how often the domains show one class
    domains: dict[str, Quality] | None = None
    domain_agreement: float | None = None
    # a translator: the generator's quality is that of its translations of the test sources
    # (class accuracy: how often they show the source's class)
    translates: bool = False

    @property
    def fid(self) -> float:
        return self.generator.fid

    @property
    def classifier_score(self) -> float:
        return self.generator.classifier_score

    @property
    def modes(self) -> int:
        return self.generator.modes

    @property
    def kl_uniform(self) -> float:
        return self.generator.kl_uniform

    @property
    def class_accuracy(self) -> float | None:
        return self.generator.class_accuracy

    def to_dict(self) -> dict[str, Any]:
        out = {"source": self.source, "preset": self.preset, "epoch": self.epoch, "n": self.n,
               "evaluator": self.evaluator, "generator": self.generator.as_dict(),
               "translates": self.translates}
        if self.floor is not None:
            out["floor"] = self.floor.as_dict()
        for key in ("code_accuracy", "code_classes", "d_accuracy", "cluster_purity",
                    "domain_agreement"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.domains is not None:
            out["domains"] = {name: q.as_dict() for name, q in self.domains.items()}
        return out

    def __str__(self) -> str:
        ev = self.evaluator
        inception = ev.get("features") == "inception"
        evaluated = f"{ev['evaluator']} features vs the {ev['dataset']} test split"
        rows = [("generator", self.generator)] if self.domains is None else \
            [(f"generator {name}", q) for name, q in self.domains.items()]
        rows = [(label, q) for label, q in (*rows, ("floor (real)", self.floor)) if q]
        width = max(16, *(len(label) + 2 for label, _ in rows))
        network = ev["evaluator"] if inception else \
            f"{ev['evaluator']} (test accuracy {ev['test_accuracy']:.2%})"
        lines = [f"{self.preset} after {self.epoch} epochs: {self.n:,} samples scored by "
                 f"{network} against the {ev['dataset']} test split"]
        if inception:  # ImageNet's 1,008 classes: modes and KL would say nothing
            lines.append(f"{'':{width}}{'FID':>9}{'Inception Score':>17}")
            lines += [f"{label:{width}}{q.fid:9.2f}{q.classifier_score:17.2f}"
                      for label, q in rows]
        else:
            lines.append(f"{'':{width}}{'FID':>9}{'classifier score':>18}{'modes':>8}"
                         f"{'KL(classes||uniform)':>22}")
            lines += [f"{label:{width}}{q.fid:9.2f}{q.classifier_score:18.2f}"
                      f"{q.modes:>5}/{q.num_classes:<2}{q.kl_uniform:22.4f}"
                      for label, q in rows]
        lines += [f"{label}: {q.extra_summary()[2:]} ({q.n:,} samples, {evaluated})"
                  for label, q in rows if q.extra_summary()]
        q = self.generator
        if q.class_accuracy is not None and self.translates:
            lines.append(f"translations show their source's class in {q.class_accuracy:.1%} "
                         f"of the test pairs (worst class: {q.worst_class_accuracy:.1%})")
        elif q.class_accuracy is not None:
            lines.append(f"class asked for = class seen in {q.class_accuracy:.1%} of the "
                         f"samples (worst class: {q.worst_class_accuracy:.1%})")
        if self.code_accuracy is not None:
            lines.append(f"categorical code decides the class seen in {self.code_accuracy:.1%}"
                         f" of the samples (code value -> class: {self.code_classes})")
        if self.d_accuracy is not None:
            lines.append(f"the discriminator classifies the test split with accuracy "
                         f"{self.d_accuracy:.2%}")
        if self.domain_agreement is not None:
            lines.append(f"the domains of a sample show one class in {self.domain_agreement:.1%}"
                         " of the samples")
        if self.cluster_purity is not None:
            lines.append(f"the encoder's clusters of the test split are {self.cluster_purity:.1%}"
                         " pure (each counts its most common class)")
        return "\n".join(lines)


def evaluate(source: Path | str, n: int = EVAL_SAMPLES, *, device: str | None = None,
             data_dir: Path | str | None = None, seed: int = 0, with_floor: bool = True,
             say: Callable[[str], None] = print, metrics: Sequence[str] = (),
             features: str | None = None, inception_weights: Path | str | None = None
             ) -> Report:
    """Score the generator of a run directory or checkpoint (its EMA weights when kept)
    on ``features`` (see :func:`~.scorers.scorer_for`): by default its dataset's evaluator
    network, trained and cached in the data root on first use.

    ``say`` receives progress lines (the evaluator's training, when it runs); ``metrics``
    adds "kid" and "pr" (precision and recall) to FID, classifier score ("is") and modes.
    """
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ConfigError(f"metrics: choose from {', '.join(METRICS)}; got {', '.join(unknown)}")
    dev = resolve_device(device)
    data_root = Path(data_dir) if data_dir else default_data_root()
    generator, preset, epoch = load_generator(Path(source), dev)
    dataset = build_component("dataset", preset.dataset)
    scorer, evaluator = scorer_for(dataset, data_root, dev, say, metrics, features,
                                   inception_weights)
    # which class a sample shows is the domain evaluator's question, not ImageNet's
    codes = code_accuracy(scorer, generator, n, seed) if (
        scorer.by_class and categorical_code(generator)) else None
    code_share, code_classes = codes or (None, None)
    domains, agreement = (scorer.by_class and domain_scores(scorer, generator, dataset, n,
                                                            seed)) or (None, None)
    # coupled images: their first domain's score is the generator's (the same samples)
    quality = next(iter(domains.values())) if domains else scorer.score_generator(
        generator, n, seed)
    return Report(source=str(source), preset=preset.name, epoch=epoch, n=n,
                  generator=quality,
                  floor=floor(scorer, dataset, data_root, n, seed) if with_floor else None,
                  evaluator=evaluator, code_accuracy=code_share, code_classes=code_classes,
                  d_accuracy=discriminator_accuracy(Path(source), dataset, data_root, dev),
                  cluster_purity=cluster_purity(Path(source), dataset, data_root, dev),
                  domains=domains, domain_agreement=agreement,
                  translates=generator.translates)
