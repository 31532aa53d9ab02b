"""Inception features: the same numbers as torch-fidelity's calculate_metrics, the weights'
route (a local file, the data root's copy, offline), and the cache of real features.

The weights file here is Inception-v3's architecture with random weights (the plumbing, not
the values): the real file is a 91 MB download this offline suite cannot make."""

import os
import pickle

import pytest
import torch
from helpers import assert_clean_error, run_cli

from ganzoo import DataError
from ganzoo.evaluation import inception
from ganzoo.evaluation.featurecache import FeatureCache
from ganzoo.evaluation.quality import Scorer

UNREACHABLE = "http://127.0.0.1:9/weights.pth"  # refused at once, online or not


def images(n, low, high, seed, channels=3):
    return torch.randint(low, high, (n, channels, 32, 32), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


class Images(torch.utils.data.Dataset):
    def __init__(self, tensor):
        self.tensor = tensor

    def __len__(self):
        return len(self.tensor)

    def __getitem__(self, i):
        return self.tensor[i]


def test_fid_is_and_kid_agree_with_torch_fidelity(fake_weights):
    import torch_fidelity

    real, fake = images(40, 0, 256, 0), images(40, 60, 200, 1)
    scorer = Scorer(inception.InceptionFeatures(fake_weights), real, torch.device("cpu"),
                    metrics=["kid"])
    ours = scorer.score_images(fake)
    theirs = torch_fidelity.calculate_metrics(
        input1=Images(fake), input2=Images(real), fid=True, isc=True, kid=True,
        kid_subset_size=40, feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(fake_weights), cache=False, cuda=False,
        save_cpu_ram=True,  # no DataLoader workers: the images are already in memory
        verbose=False)
    assert ours.fid > 0 and ours.kid > 0  # different sets: a real comparison
    assert ours.fid == pytest.approx(theirs["frechet_inception_distance"], rel=1e-3)
    assert ours.classifier_score == pytest.approx(theirs["inception_score_mean"], rel=1e-3)
    assert ours.kid == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-3)
    assert ours.n == 40 and ours.num_classes == 1008


def test_grayscale_images_are_seen_as_gray_rgb(fake_weights):
    net = inception.InceptionFeatures(fake_weights)
    gray = images(4, 0, 256, 2, channels=1).float() / 127.5 - 1
    assert torch.allclose(net.features(gray), net.features(gray.expand(-1, 3, -1, -1)))


def test_the_weights_route(tmp_path, fake_weights, monkeypatch):
    assert inception.weights_file(tmp_path, fake_weights) == fake_weights  # a local file
    with pytest.raises(Exception, match="--inception-weights: no file"):
        inception.weights_file(tmp_path, tmp_path / "missing.pth")
    monkeypatch.setattr(inception, "WEIGHTS_URL", UNREACHABLE)
    said = []
    with pytest.raises(DataError, match="could not be fetched.*--inception-weights FILE"):
        inception.weights_file(tmp_path / "root", say=said.append)
    assert said == [] and not (tmp_path / "root").exists()  # one line, nothing written
    copy = tmp_path / "root" / "inception" / "weights-inception-2015-12-05-6726825d.pth"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(fake_weights.read_bytes())
    assert inception.weights_file(tmp_path / "root") == copy  # the data root's copy


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch ran-code",))


def test_a_weights_file_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"Conv2d_1a_3x3.conv.weight": RunsCode()}, protocol=2))
    with pytest.raises(DataError, match="is not an Inception weights file"):
        inception.InceptionFeatures(evil)
    assert not (tmp_path / "ran-code").exists()
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(DataError, match="does not hold Inception-v3's weights"):
        inception.InceptionFeatures(wrong)


def test_real_features_are_cached_by_content_and_extractor(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return torch.ones(2, 3), torch.zeros(2, 4)

    cache = FeatureCache(tmp_path, "mnist", "net-abc")
    data = images(2, 0, 256, 3)
    first = cache.features(data, "test", compute)
    again = cache.features(data.clone(), "test", compute)
    assert len(calls) == 1 and torch.equal(first[0], again[0])
    name = cache.path(data, "test").name
    assert name.startswith("mnist-test-32px-net-abc-")
    cache.features(images(2, 0, 256, 4), "test", compute)  # other images
    FeatureCache(tmp_path, "mnist", "net-xyz").features(data, "test", compute)  # other net
    assert len(calls) == 3


def test_eval_on_inception_features(tmp_path, mnist_root, fake_weights, monkeypatch):
    run = tmp_path / "run"
    trained = run_cli("train", "vanilla-mnist", "--epochs", 1, "--batch-size", 64,
                      "--data-dir", mnist_root, "--out", run, "-q")
    assert trained.exit_code == 0, trained.output

    def files():
        return {p: p.stat().st_mtime_ns for p in [*tmp_path.rglob("*")] if p.is_file()}

    before = files()
    monkeypatch.setattr(inception, "WEIGHTS_URL", UNREACHABLE)
    offline = run_cli("eval", run, "--features", "inception", "--data-dir", mnist_root)
    assert_clean_error(offline, "Inception weights are not in", "--inception-weights FILE")
    assert offline.exit_code == 2 and len(offline.output.strip().splitlines()) == 1
    assert files() == before  # nothing written

    args = ("eval", run, "--features", "inception", "--inception-weights", fake_weights,
            "-n", 20, "--data-dir", mnist_root, "--metrics", "kid,pr")
    scored = run_cli(*args)
    assert scored.exit_code == 0, scored.output
    assert "scored by inception-v3-2015-12-05 against the mnist test split" in scored.output
    assert "Inception Score" in scored.output and "floor (real)" in scored.output
    assert "20 samples, inception-v3-2015-12-05 features" in scored.output
    cached = sorted((mnist_root / "features").iterdir())
    assert [p.name.split("-")[:3] for p in cached] == [["mnist", "test", "28px"],
                                                       ["mnist", "train", "28px"]]
    stamps = [p.stat().st_mtime_ns for p in cached]
    assert run_cli(*args).output == scored.output  # the real features read from the cache
    assert [p.stat().st_mtime_ns for p in cached] == stamps
