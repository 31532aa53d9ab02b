"""Sample quality, measured on a network's features against the dataset's test split.

By default the network is the dataset's own *evaluator* -- a classifier registered like any
other component -- that ganzoo trains once on the training split and caches in the data
root (no Inception weights needed, and it knows the domain: digits, not ImageNet). With
``features="inception"`` it is Inception-v3, the literature's (``inception.py``). The
formulas are torch-fidelity's (``formulas.py``):

- ``fid``: Frechet distance between feature distributions, 0 is best;
- ``classifier_score``: the Inception-Score formula on the network's classes (10 splits),
  from 1 to the number of classes, higher is better (with Inception features: the IS);
- ``modes``: classes that receive at least a tenth of their fair share of the samples;
- ``kl_uniform``: KL(histogram of predicted classes || uniform), 0 is best;
- for a class-conditional generator, ``class_accuracy``: how often the evaluator sees the
  class that was asked for (and ``worst_class_accuracy``, the lowest of any class);
- asked for: ``kid`` and precision / recall (k = 3).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor, nn
from tqdm import tqdm

from ..core.build import build_component
from ..core.errors import ConfigError
from ..core.fileio import atomic_write_bytes
from ..core.interfaces import ComponentRef, Dataset, Evaluator, Generator
from ..engine.batches import DeviceImages, to_unit_range
from . import formulas
from .featurecache import FeatureCache

EVALUATOR_FORMAT = "ganzoo-evaluator/1"
EVALUATOR_SEED = 0
EVAL_SAMPLES = 10_000  # samples scored by `ganzoo eval` and by --eval-every
CHUNK = 1000  # images per evaluator forward pass
MODE_SHARE = 0.1  # a class is covered with >= 10% of its uniform share of the samples
# metrics computed when asked for (``ganzoo eval --metrics``); FID, the classifier score
# ("is": the Inception-Score formula) and the modes are always
EXTRA_METRICS = ("kid", "pr")
METRICS = ("fid", "is", *EXTRA_METRICS)
FEATURES = ("domain", "inception")  # what the metrics compare: see scorer_for


@dataclass(frozen=True)
class Quality:
    fid: float
    classifier_score: float
    modes: int
    num_classes: int
    kl_uniform: float
    n: int
    class_accuracy: float | None = None  # conditional generators: asked class == seen class
    worst_class_accuracy: float | None = None
    # asked for (EXTRA_METRICS): KID (mean, std over subsets), precision and recall (k = 3)
    kid: float | None = None
    kid_std: float | None = None
    precision: float | None = None
    recall: float | None = None
    # a translator of aligned pairs: its translations' distance to the targets, in [0, 1]
    # pixels: mean absolute difference, PSNR (dB) and SSIM
    l1: float | None = None
    psnr: float | None = None
    ssim: float | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def summary(self) -> str:
        text = (f"FID {self.fid:.2f}, classifier score {self.classifier_score:.2f}, "
                f"modes {self.modes}/{self.num_classes}, KL {self.kl_uniform:.4f}")
        if self.class_accuracy is not None:
            text += (f", class accuracy {self.class_accuracy:.1%} "
                     f"(worst class {self.worst_class_accuracy:.1%})")
        return text + self.extra_summary()

    def extra_summary(self) -> str:
        """The metrics asked for beyond the defaults, as ", KID ..., precision ..."."""
        text = ""
        if self.kid is not None:
            text += f", KID {self.kid:.4f} ± {self.kid_std:.4f}"
        if self.precision is not None:
            text += f", precision {self.precision:.3f}, recall {self.recall:.3f}"
        if self.l1 is not None:
            text += f", L1 {self.l1:.4f}, PSNR {self.psnr:.2f} dB, SSIM {self.ssim:.4f}"
        return text


# -- the evaluator network -----------------------------------------------------------------
def build_evaluator(dataset: Dataset) -> Evaluator:
    if not dataset.evaluator:
        raise ConfigError(f"dataset {dataset.name!r} names no evaluator network (a "
                          "classifier of its images, trained on its labels), so none of FID, "
                          "classifier score and modes applies to its samples; for an image "
                          "folder, put each class in its own subfolder and set "
                          "dataset.labels=folders: ganzoo then trains one")
    ref = ComponentRef(dataset.evaluator, {"in_shape": list(dataset.sample_shape),
                                           "num_classes": dataset.num_classes})
    return build_component("evaluator", ref)


def evaluator_path(dataset: Dataset, data_root: Path) -> Path:
    return Path(data_root) / "evaluators" / f"{dataset.name}-{dataset.evaluator}.safetensors"


def load_evaluator(dataset: Dataset, data_root: Path, device: torch.device,
                   say: Callable[[str], None] = print) -> tuple[Evaluator, dict]:
    """The cached evaluator of ``dataset`` (trained and cached first if missing or unusable),
    in eval mode on ``device``, and its record (test accuracy, recipe)."""
    with torch.random.fork_rng(devices=[]):  # seeded init, and the caller's RNG untouched
        torch.manual_seed(EVALUATOR_SEED)
        net = build_evaluator(dataset)
    path = evaluator_path(dataset, data_root)
    if path.is_file():
        try:
            info = _read_evaluator(path, net)
            return net.to(device).eval(), info
        except Exception as exc:  # a derived cache: rebuilding it loses nothing
            say(f"The cached evaluator {path} is unusable ({exc}); training it again.")
    say(f"Training the {dataset.name} evaluator ({dataset.evaluator}, {net.epochs} epochs); "
        f"it is cached in {path.parent} for later runs.")
    info = fit_evaluator(net, dataset, data_root, device)
    say(f"Evaluator test accuracy: {info['test_accuracy']:.2%}")
    metadata = {"format": EVALUATOR_FORMAT, "record": json.dumps(info)}
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    atomic_write_bytes(path, safetensors_bytes(state, metadata=metadata))
    return net.eval(), info


def _read_evaluator(path: Path, net: Evaluator) -> dict:
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        if metadata.get("format") != EVALUATOR_FORMAT:
            raise ValueError(f"format {metadata.get('format')!r}, expected {EVALUATOR_FORMAT}")
        state = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (not a dict)
    net.load_state_dict(state)
    return json.loads(metadata["record"])


def fit_evaluator(net: Evaluator, dataset: Dataset, data_root: Path,
                  device: torch.device) -> dict:
    """Train ``net`` on the training split (seeded, without touching the caller's RNG) and
    return its record, including the accuracy on the test split."""
    images, labels = dataset.load("train", data_root)
    net.to(device).train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(EVALUATOR_SEED)
        data = DeviceImages(images, labels, device, hflip=False)
        steps = data.steps_per_epoch(net.batch_size)
        opt = torch.optim.Adam(net.parameters(), lr=net.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=net.lr,
                                                       total_steps=steps * net.epochs)
        bar = tqdm(total=steps * net.epochs, unit="step", desc="evaluator", leave=False,
                   disable=None, file=sys.stderr)  # None: no bar off a terminal
        for _ in range(net.epochs):
            for x, y in data.epoch(net.batch_size):
                loss = nn.functional.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                bar.update()
        bar.close()
    net.eval()
    test_images, test_labels = dataset.load("test", data_root)
    predicted = torch.cat([logits.argmax(1).cpu() for _, logits in
                           embed(net, _unit_batches(test_images, device))])
    accuracy = (predicted == test_labels).float().mean().item()
    return {"evaluator": dataset.evaluator, "dataset": dataset.name, "seed": EVALUATOR_SEED,
            "epochs": net.epochs, "test_accuracy": accuracy}


# -- scoring ---------------------------------------------------------------------------------
@torch.no_grad()
def embed(net: Evaluator, batches: Iterable[Tensor]) -> Iterable[tuple[Tensor, Tensor]]:
    """(features, logits) of each batch of float images in [-1, 1]."""
    for x in batches:
        features = net.features(x)
        yield features.float(), net.classify(features).float()


def itself(images: Tensor) -> Tensor:
    return images


def _unit_batches(images: Tensor, device: torch.device,
                  view: Callable[[Tensor], Tensor] = itself) -> Iterable[Tensor]:
    for i in range(0, images.shape[0], CHUNK):
        yield view(to_unit_range(images[i:i + CHUNK].to(device)))


class Scorer:
    """Scores sets of images against the test split, on one network's features: a
    dataset's evaluator, or Inception-v3's (:class:`~.inception.InceptionFeatures`).

    ``view`` maps a generator's images into the network's domain (a coupled dataset's
    first domain; by default the images themselves), ``real_view`` real ones (image pairs'
    targets); ``cache`` keeps real images' features
    (the test split's, the floor's) for later scorers. ``by_class``: the network's classes
    are the dataset's, so a conditional generator's class accuracy means something (not so
    for Inception's ImageNet classes)."""

    def __init__(self, evaluator: Evaluator, reference: Tensor, device: torch.device,
                 view: Callable[[Tensor], Tensor] = itself, metrics: Iterable[str] = (),
                 cache: FeatureCache | None = None, by_class: bool = True,
                 real_view: Callable[[Tensor], Tensor] = itself) -> None:
        self.evaluator, self.device, self.view, self.cache = evaluator, device, view, cache
        self.real_view = real_view
        self.by_class = by_class
        self.extra = {m for m in metrics if m in EXTRA_METRICS}  # beyond the defaults
        self.reference, _ = self.embed_images(reference, "test")
        self.reference_stats = formulas.frechet_statistics(self.reference)

    def _embed_all(self, batches: Iterable[Tensor]) -> tuple[Tensor, Tensor]:
        parts = list(embed(self.evaluator, batches))
        return torch.cat([f for f, _ in parts]), torch.cat([lg for _, lg in parts])

    def embed_images(self, images: Tensor, split: str) -> tuple[Tensor, Tensor]:
        """(features, logits) of uint8 real images (N, C, H, W) of ``split``, cached."""
        def compute() -> tuple[Tensor, Tensor]:
            return self._embed_all(_unit_batches(images, self.device, self.real_view))

        if self.cache is None:
            return compute()
        return self.cache.features(images, split, compute)

    def score_images(self, images: Tensor, split: str = "train") -> Quality:
        """Score uint8 images (N, C, H, W) of ``split``, e.g. real data for the floor."""
        return self.score_features(*self.embed_images(images, split))

    def score_batches(self, batches: Iterable[Tensor], labels: Tensor | None = None) -> Quality:
        """Score float images in [-1, 1], given batch by batch; ``labels``: the classes a
        conditional generator was asked for, one per image."""
        return self.score_features(*self._embed_all(batches), labels)

    def score_features(self, features: Tensor, logits: Tensor,
                       labels: Tensor | None = None) -> Quality:
        n, num_classes = logits.shape
        if n < 2:
            raise ConfigError(f"need at least 2 samples to score, got {n}")
        fid = formulas.frechet_distance(self.reference_stats,
                                        formulas.frechet_statistics(features))
        share = torch.bincount(logits.argmax(1).cpu(), minlength=num_classes).double() / n
        modes = int((share >= MODE_SHARE / num_classes).sum())
        kl = sum(p * math.log(p * num_classes) for p in share.tolist() if p > 0)
        accuracy = {}
        if labels is not None and self.by_class:
            hit = (logits.argmax(1).cpu() == labels.cpu()).double()
            per_class = [hit[labels.cpu() == k].mean().item() for k in labels.unique().tolist()]
            accuracy = {"class_accuracy": hit.mean().item(),
                        "worst_class_accuracy": min(per_class)}
        return Quality(fid=max(fid, 0.0), classifier_score=formulas.inception_score(logits),
                       modes=modes, num_classes=num_classes, kl_uniform=kl, n=n, **accuracy,
                       **self._extra_metrics(features))

    def _extra_metrics(self, features: Tensor) -> dict[str, float]:
        """KID and precision / recall of ``features`` against the test split's, where
        asked for."""
        out: dict[str, float] = {}
        if "kid" in self.extra:
            out["kid"], out["kid_std"] = formulas.kernel_distance(self.reference, features)
        if "pr" in self.extra:
            out["precision"], out["recall"] = formulas.precision_recall(
                self.reference.to(features.device), features)
        return out

    def score_generator(self, generator: Generator, n: int = EVAL_SAMPLES,
                        seed: int = 0) -> Quality:
        """Score ``n`` fresh samples of ``generator`` without disturbing the global RNG;
        a conditional generator is asked for every class in turn."""
        was_training = generator.training
        generator.eval()
        cuda = [self.device] if self.device.type == "cuda" else []
        classes = generator.num_classes
        labels = torch.arange(n, device=self.device) % classes if classes else None

        @torch.no_grad()
        def batches() -> Iterable[Tensor]:
            for i in range(0, n, CHUNK):
                noise = generator.sample_noise(min(CHUNK, n - i), self.device)
                asked = None if labels is None else labels[i:i + CHUNK]
                yield self.view(generator.generate(noise, asked).float())

        try:
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(seed)
                return self.score_batches(batches(), labels)
        finally:
            generator.train(was_training)
