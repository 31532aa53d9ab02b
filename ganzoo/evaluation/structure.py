"""What a variant learns beside its samples: whether a categorical latent code decides the
digit (InfoGAN), how well a discriminator that predicts classes classifies the test split
(semi-supervised GANs, ACGAN), how purely an encoder clusters it (ClusterGAN), and whether
the domains of a coupled sample show one class (CoGAN)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..core.build import build, build_component
from ..core.context import as_output
from ..core.errors import CheckpointError
from ..core.interfaces import Dataset, Generator
from ..engine import checkpoint
from ..engine.batches import to_unit_range
from ..engine.rundir import find_checkpoint
from .quality import CHUNK, Quality, Scorer


def categorical_code(generator: Generator) -> str | None:
    """The name of the generator's first categorical latent code, if it has one."""
    return next((name for name, categories in generator.codes.items() if categories), None)


@torch.no_grad()
def code_accuracy(scorer: Scorer, generator: Generator, n: int,
                  seed: int = 0) -> tuple[float, list[int]]:
    """How often the categorical code decides the evaluator's class: ``n`` samples with
    the code's values in turn, each value matched one-to-one to the class it is seen as
    most (the Hungarian matching, as InfoGAN's paper scores its code); returns the share of
    samples seen as their value's class and the class matched to each value."""
    from scipy.optimize import linear_sum_assignment

    name = categorical_code(generator)
    values = generator.codes[name]
    device = scorer.device
    asked = torch.arange(n, device=device) % values
    was_training = generator.training
    generator.eval()
    seen = []
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            for i in range(0, n, CHUNK):
                noise = generator.sample_noise(min(CHUNK, n - i), device)
                noise = generator.with_code(noise, name, asked[i:i + CHUNK])
                images = generator(noise).float()
                seen.append(scorer.evaluator(images).argmax(1))
    finally:
        generator.train(was_training)
    seen_classes = torch.cat(seen)
    counts = torch.zeros(values, scorer.evaluator.num_classes, dtype=torch.long)
    counts.index_put_((asked.cpu(), seen_classes.cpu()), torch.ones(n, dtype=torch.long),
                      accumulate=True)
    rows, cols = linear_sum_assignment(counts.numpy(), maximize=True)
    return counts[rows, cols].sum().item() / n, [int(c) for c in cols]


def _training_checkpoint(source: Path) -> checkpoint.Checkpoint | None:
    """The newest training checkpoint of ``source`` (None: a run directory without one, or
    a generator export, which holds no D and no networks of the objective)."""
    try:
        ckpt = checkpoint.load(find_checkpoint(source))
    except CheckpointError:
        return None
    return ckpt if ckpt.kind == checkpoint.TRAINING else None


@torch.no_grad()
def discriminator_accuracy(source: Path, dataset: Dataset, data_root: Path,
                           device: torch.device) -> float | None:
    """The test-split accuracy of the class logits of the discriminator in the newest
    training checkpoint of ``source`` (None when there is no such checkpoint or its D
    predicts no classes)."""
    ckpt = _training_checkpoint(source)
    if ckpt is None:
        return None
    with torch.random.fork_rng(devices=[]):  # its initial weights are overwritten anyway
        D = build_component("discriminator", ckpt.preset.discriminator)
    if not D.class_outputs or D.num_classes:  # it must predict classes from images alone
        return None
    checkpoint.load_module(ckpt, "discriminator", D)
    D.to(device).eval()
    images, labels = dataset.load("test", data_root)
    hits = 0
    for i in range(0, len(images), CHUNK):
        out = as_output(D(to_unit_range(images[i:i + CHUNK].to(device))))
        hits += (out.class_logits.argmax(1).cpu() == labels[i:i + CHUNK]).sum().item()
    return hits / len(images)


@torch.no_grad()
def cluster_purity(source: Path, dataset: Dataset, data_root: Path,
                   device: torch.device) -> float | None:
    """How purely the objective's clusters (``Objective.clusters``, from the networks in the
    newest training checkpoint of ``source``) hold one class of the test split: each
    cluster counts its most common label (None when the objective clusters nothing or there
    is no training checkpoint)."""
    ckpt = _training_checkpoint(source)
    if ckpt is None or not ckpt.section(checkpoint.NETWORKS):
        return None
    with torch.random.fork_rng(devices=[]):  # initial weights, overwritten below
        parts = build(ckpt.preset)
    networks = {name: net.module for name, net in parts.networks.items()}
    for name, module in networks.items():
        checkpoint.load_module(ckpt, f"{checkpoint.NETWORKS}.{name}", module)
        module.to(device).eval()
    images, labels = dataset.load("test", data_root)
    found = [parts.loss.clusters(networks, to_unit_range(images[i:i + CHUNK].to(device)))
             for i in range(0, len(images), CHUNK)]
    if found[0] is None:
        return None
    clusters = torch.cat(found).cpu()
    counts = torch.zeros(int(clusters.max()) + 1, int(labels.max()) + 1, dtype=torch.long)
    counts.index_put_((clusters, labels), torch.ones(len(labels), dtype=torch.long),
                      accumulate=True)
    return counts.max(1).values.sum().item() / len(labels)


@torch.no_grad()
def domain_scores(scorer: Scorer, generator: Generator, dataset: Dataset, n: int,
                  seed: int = 0) -> tuple[dict[str, Quality], float] | None:
    """For a dataset of coupled images (one that names ``scored_by``): the quality of each
    domain of ``n`` samples, and the share of samples whose domains the evaluator sees as
    one class -- what CoGAN's shared weights should teach without paired data. None for a
    dataset of one domain, or of image pairs (a translator's)."""
    if not dataset.scored_by or dataset.image_pairs:
        return None
    device = scorer.device
    was_training = generator.training
    generator.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            views = [dataset.domains(generator(generator.sample_noise(
                min(CHUNK, n - i), device)).float()) for i in range(0, n, CHUNK)]
    finally:
        generator.train(was_training)
    names = list(views[0])
    quality = {name: scorer.score_batches([v[name] for v in views]) for name in names}
    seen = torch.stack([torch.cat([scorer.evaluator(v[name]).argmax(1) for v in views])
                        for name in names])
    return quality, (seen == seen[0]).all(0).double().mean().item()
