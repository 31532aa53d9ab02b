"""Quality metrics: known answers, the evaluator cache, `ganzoo eval`, --eval-every and the
regression test against the tutorial's loop on real MNIST."""

import json
import math
import os
from pathlib import Path

import pytest
import torch
from helpers import assert_clean_error, run_cli

from ganzoo import ConfigError, DataError, Evaluator
from ganzoo.core.build import build_component
from ganzoo.core.plugins import get_registry
from ganzoo.evaluation import inception
from ganzoo.evaluation.quality import Scorer, evaluator_path, load_evaluator
from ganzoo.evaluation.scorers import scorer_for

UNREACHABLE = "http://127.0.0.1:9/weights.pth"  # refused at once, online or not


class Probe(Evaluator):
    """Features are the first two pixels; logits are fixed functions of them."""

    def __init__(self, num_classes=10):
        super().__init__((1, 2, 2), num_classes)
        self.head = torch.nn.Linear(2, num_classes)

    def features(self, x):
        return x.flatten(1)[:, :2]

    def classify(self, features):
        return self.head(features)


def corners(k):
    """4k feature pairs at (+-1, +-1): mean 0, uncorrelated, unbiased variance 4k/(4k-1)."""
    pairs = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]]).repeat(k, 1)
    images = torch.zeros(4 * k, 1, 2, 2)
    images.view(4 * k, 4)[:, :2] = pairs
    return images


def test_frechet_distance_matches_the_closed_form():
    k = 250
    reference = ((corners(k) + 1) * 127.5).round().to(torch.uint8)  # +-1 exactly after scaling
    scorer = Scorer(Probe(), reference, torch.device("cpu"))
    scale, shift = torch.tensor([2.0, 0.5]), torch.tensor([0.3, -1.0])
    images = corners(k)
    images.view(4 * k, 4)[:, :2] = images.view(4 * k, 4)[:, :2] * scale + shift
    var = 4 * k / (4 * k - 1)
    # diagonal covariances: FID = |shift|^2 + sum_i (sigma_i - a_i sigma_i)^2
    expected = (shift**2).sum().item() + sum((1 - a) ** 2 * var for a in scale.tolist())
    assert scorer.score_batches([images]).fid == pytest.approx(expected, rel=1e-4)
    assert scorer.score_batches([corners(k)]).fid == pytest.approx(0.0, abs=1e-4)


def confident(classes, k=1e4):
    """A probe and images on which it puts ~all probability on the given classes: the
    logit of class c is -k (x - c/10)^2 up to a term shared by all classes."""
    probe, centres = Probe(), torch.arange(10) / 10
    with torch.no_grad():
        probe.head.weight.zero_()
        probe.head.weight[:, 0] = 2 * k * centres
        probe.head.bias.copy_(-k * centres**2)
    images = torch.zeros(len(classes), 1, 2, 2)
    images.view(-1, 4)[:, 0] = torch.tensor(classes, dtype=torch.float) / 10
    return probe, images


REFERENCE = torch.randint(0, 256, (8, 1, 2, 2), generator=torch.Generator().manual_seed(0),
                          dtype=torch.uint8)


def test_classifier_score_modes_and_kl_on_known_cases():
    probe, images = confident([c for c in range(10) for _ in range(1000)])
    even = Scorer(probe, REFERENCE, torch.device("cpu")).score_batches([images])
    assert even.modes == 10 and even.kl_uniform == pytest.approx(0.0, abs=1e-9)
    assert even.classifier_score == pytest.approx(10.0, rel=0.01)  # shuffled splits: ~10

    probe, images = confident([3] * 5000)
    single = Scorer(probe, REFERENCE, torch.device("cpu")).score_batches([images])
    assert single.modes == 1
    assert single.kl_uniform == pytest.approx(math.log(10))
    assert single.classifier_score == pytest.approx(1.0, abs=1e-4)


def test_a_class_below_a_tenth_of_its_share_is_not_a_covered_mode():
    probe, images = confident([0] * 991 + [1] * 9)  # 0.9% < 1% of the samples
    assert Scorer(probe, REFERENCE, torch.device("cpu")).score_batches([images]).modes == 1


def mnist():
    return build_component("dataset", get_registry().preset("vanilla-mnist").dataset)


def test_evaluator_is_trained_once_then_cached(mnist_root, cheap_evaluator):
    said = []
    net, info = load_evaluator(mnist(), mnist_root, torch.device("cpu"), said.append)
    path = evaluator_path(mnist(), mnist_root)
    assert path.is_file() and any("Training the mnist evaluator" in s for s in said)
    assert info["evaluator"] == "small-cnn" and 0 <= info["test_accuracy"] <= 1
    said.clear()
    again, info2 = load_evaluator(mnist(), mnist_root, torch.device("cpu"), said.append)
    assert said == [] and info2 == info
    for key, value in net.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_an_unreadable_evaluator_cache_is_rebuilt(mnist_root, cheap_evaluator):
    path = evaluator_path(mnist(), mnist_root)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a safetensors file")
    said = []
    load_evaluator(mnist(), mnist_root, torch.device("cpu"), said.append)
    assert "unusable" in said[0]
    load_evaluator(mnist(), mnist_root, torch.device("cpu"), said.append)  # now it loads
    assert len(said) == 3


def test_a_dataset_without_an_evaluator_is_scored_on_inception_features(mnist_root,
                                                                        monkeypatch):
    from ganzoo_vanilla.mnist import MNIST

    monkeypatch.setattr(MNIST, "evaluator", None)
    with pytest.raises(ConfigError, match="names no evaluator"):
        scorer_for(mnist(), mnist_root, torch.device("cpu"), features="domain")
    monkeypatch.setattr(inception, "WEIGHTS_URL", UNREACHABLE)
    with pytest.raises(DataError, match="--inception-weights FILE"):  # the default: Inception
        scorer_for(mnist(), mnist_root, torch.device("cpu"), say=lambda msg: None)
    assert not (mnist_root / "inception").exists()


def train_args(mnist_root, out, *extra):
    return ("train", "vanilla-mnist", "--epochs", 2, "--batch-size", 64, "--data-dir",
            mnist_root, "--out", out, "-q", *extra)


def test_eval_every_writes_quality_without_changing_training(tmp_path, mnist_root,
                                                             cheap_evaluator):
    plain = run_cli(*train_args(mnist_root, tmp_path / "plain"))
    scored = run_cli(*train_args(mnist_root, tmp_path / "scored", "--eval-every", 1))
    assert plain.exit_code == 0 and scored.exit_code == 0, scored.output
    rows = [json.loads(line) for line in
            (tmp_path / "scored" / "metrics.jsonl").read_text().splitlines()]
    assert [sorted(r["quality"]) for r in rows] == [
        ["classifier_score", "fid", "kl_uniform", "modes", "n", "num_classes"]] * 2
    plain_rows = (tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()
    for row, other in zip(rows, plain_rows, strict=True):  # the eval RNG is separate
        assert (row["loss_d"], row["loss_g"]) == (json.loads(other)["loss_d"],
                                                  json.loads(other)["loss_g"])


def test_eval_command_prints_metrics_and_json(tmp_path, mnist_root, cheap_evaluator):
    assert run_cli(*train_args(mnist_root, tmp_path / "run")).exit_code == 0
    table = run_cli("eval", tmp_path / "run", "-n", 200, "--data-dir", mnist_root)
    assert table.exit_code == 0, table.output
    assert "vanilla-mnist after 2 epochs" in table.output and "floor (real)" in table.output
    as_json = run_cli("eval", tmp_path / "run", "-n", 200, "--data-dir", mnist_root, "--json")
    report = json.loads(as_json.output[as_json.output.index("{"):])
    assert report["n"] == 200 and report["epoch"] == 2
    assert set(report["generator"]) >= {"fid", "classifier_score", "modes", "kl_uniform"}
    assert report["floor"]["fid"] < report["generator"]["fid"]


def test_precision_and_recall_on_known_point_clouds():
    from ganzoo.evaluation.formulas import precision_recall

    cloud = torch.randn(400, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(cloud, cloud.clone()) == (1.0, 1.0)  # identical: both 1
    assert precision_recall(cloud, cloud + 100) == (0.0, 0.0)  # disjoint: both 0
    # the data: two far-apart clusters A and B; samples of A alone cover only A's half, and
    # samples half of A, half of a third cluster far from both are half real
    a, b, far = cloud[:200], cloud[200:] + 100, cloud[200:] - 100
    assert precision_recall(torch.cat([a, b]), a.clone()) == (1.0, 0.5)
    assert precision_recall(torch.cat([a, b]), torch.cat([a, far])) == (0.5, 0.5)


def test_kid_and_precision_recall_are_reported_when_asked(tmp_path, mnist_root,
                                                          cheap_evaluator):
    assert run_cli(*train_args(mnist_root, tmp_path / "run")).exit_code == 0
    table = run_cli("eval", tmp_path / "run", "-n", 200, "--data-dir", mnist_root,
                    "--metrics", "fid,is,kid,pr")
    assert table.exit_code == 0, table.output
    assert "generator: KID" in table.output and "precision" in table.output
    assert "200 samples, small-cnn features vs the mnist test split" in table.output
    as_json = run_cli("eval", tmp_path / "run", "-n", 200, "--data-dir", mnist_root, "--json",
                      "--metrics", "kid,pr")
    report = json.loads(as_json.output[as_json.output.index("{"):])
    for side in ("generator", "floor"):
        assert {"kid", "kid_std", "precision", "recall"} <= set(report[side])
    assert report["floor"]["recall"] > report["generator"]["recall"]
    assert report["floor"]["kid"] < report["generator"]["kid"]
    plain = run_cli("eval", tmp_path / "run", "-n", 200, "--data-dir", mnist_root, "--json")
    assert "kid" not in json.loads(plain.output[plain.output.index("{"):])["generator"]
    bad = run_cli("eval", tmp_path / "run", "--data-dir", mnist_root, "--metrics", "fid,ssim")
    assert_clean_error(bad, "metrics: choose from fid, is, kid, pr; got ssim")


def test_eval_rejects_a_file_that_is_not_a_checkpoint(tmp_path, mnist_root):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    assert_clean_error(run_cli("eval", tmp_path / "junk.safetensors", "--data-dir", mnist_root))


# -- on the real MNIST ----------------------------------------------------------------------
@pytest.mark.slow
def test_evaluator_and_metrics_on_real_mnist(real_mnist_root):
    scorer, info = scorer_for(mnist(), real_mnist_root, torch.device("cpu"))
    assert info["test_accuracy"] >= 0.99
    test_images, _ = mnist().load("test", real_mnist_root)
    real = scorer.score_images(test_images)
    assert real.classifier_score >= 9.5 and real.modes == 10 and real.kl_uniform <= 0.01
    noise = scorer.score_batches([torch.rand(10_000, 1, 28, 28) * 2 - 1])
    assert noise.fid > 100 * max(real.fid, 1.0)
    assert noise.classifier_score < 3 and noise.modes < 10 and noise.kl_uniform > 0.5


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GANZOO_TEST_FASHION_DATA"),
                    reason="opt-in: GANZOO_TEST_FASHION_DATA=<data root> (Fashion-MNIST is "
                           "fetched there if missing; training its evaluator takes ~5 min)")
def test_fashion_evaluator_and_metrics_on_real_fashion_mnist():
    from ganzoo_classic.fashion import FashionMNIST

    root = Path(os.environ["GANZOO_TEST_FASHION_DATA"])
    scorer, info = scorer_for(FashionMNIST(), root, torch.device("cpu"))
    assert info["evaluator"] == "fashion-cnn" and info["test_accuracy"] >= 0.9
    test_images, _ = FashionMNIST().load("test", root)
    real = scorer.score_images(test_images)
    assert real.classifier_score >= 8 and real.modes == 10 and real.kl_uniform <= 0.01
    noise = scorer.score_batches([torch.rand(10_000, 1, 28, 28) * 2 - 1])
    assert noise.fid > 100 * max(real.fid, 1.0) and noise.classifier_score < 3


def test_class_accuracy_only_where_the_network_knows_the_datasets_classes():
    probe, images = confident([c for c in range(10) for _ in range(10)])
    asked = torch.arange(10).repeat_interleave(10)
    domain = Scorer(probe, REFERENCE, torch.device("cpu")).score_batches([images], asked)
    assert domain.class_accuracy == 1.0 and domain.worst_class_accuracy == 1.0
    imagenet = Scorer(probe, REFERENCE, torch.device("cpu"), by_class=False)  # Inception's
    assert imagenet.score_batches([images], asked).class_accuracy is None
