"""CIFAR-10 in torchvision's layout, read without running a pickle's code, trained in colour."""

import os
import pickle

import numpy as np
import pytest
import torch
from helpers import assert_clean_error, run_cli
from safetensors.torch import load_file

import ganzoo

QUICK = ("--set", "batch_size=32", "--set", "sample_every=1", "--checkpoint-every", "0",
         "--quiet")
NARROW = {"sngan": ("--set", "generator.width=32", "--set", "discriminator.width=32"),
          "r3gan": tuple(arg for side in ("generator", "discriminator") for arg in (
              "--set", f"{side}.widths=[16,16,16,16]", "--set", f"{side}.cardinality=4",
              "--set", f"{side}.blocks=1"))}  # the papers' networks, narrow for a CPU


def small(preset):
    return NARROW.get(preset.split("-")[0], ())


def write_fake_cifar(root, per_batch=64, test=64):
    """CIFAR-10's six pickled batches (Python 2 style dicts of a uint8 array and a label
    list), each image noise with a bright band whose channel and row show its class."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_batch
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):  # the class: a bright band, its channel and row
            images[i, label % 3, 8 * (label // 3): 8 * (label // 3) + 6] = 255
        batch = {"batch_label": name, "labels": labels.tolist(),
                 "data": images.reshape(n, -1), "filenames": [f"{i}.png" for i in range(n)]}
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)
    return root


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    return write_fake_cifar(tmp_path_factory.mktemp("cifar") / "data")


def test_cifar10_reads_torchvisions_layout(cifar_root, monkeypatch):
    import torchvision

    # torchvision checks the real files' md5 sums; these are fakes in its layout
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_load_meta", lambda self: None)
    cifar = ganzoo.get_registry().get("dataset", "cifar10").obj()
    images, labels = cifar.load("train", cifar_root)
    assert images.shape == (320, 3, 32, 32) and images.dtype == torch.uint8
    theirs = torchvision.datasets.CIFAR10(cifar_root, train=True, download=False)
    assert np.array_equal(images.permute(0, 2, 3, 1).numpy(), theirs.data)
    assert labels.tolist() == theirs.targets
    assert cifar.load("test", cifar_root)[0].shape == (64, 3, 32, 32)


class Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_with_a_forbidden_global_is_refused_without_running_it(tmp_path):
    root = write_fake_cifar(tmp_path / "data")
    with (root / "cifar-10-batches-py" / "data_batch_3").open("wb") as f:
        pickle.dump({"data": Boom(), "labels": [0]}, f, protocol=2)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = run_cli("train", "dcgan-cifar10", "--data-dir", root, "--out",
                         tmp_path / "run", "--epochs", "1", *QUICK)
    finally:
        os.chdir(cwd)
    assert_clean_error(result, "data_batch_3 is not a CIFAR batch",
                       "refusing to load global posix.system")
    assert not (tmp_path / "pwned").exists()


def test_missing_cifar_offline_says_where_to_put_it(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    result = run_cli("train", "dcgan-cifar10", "--data-dir", tmp_path, "--out",
                     tmp_path / "run", "--epochs", "1", "--quiet")
    assert_clean_error(result, "cifar-10-python.tar.gz", f"extract it into {tmp_path}",
                       "network is unreachable")
    assert [line[:6] for line in result.output.splitlines()] == ["Error:"]


@pytest.mark.parametrize("preset", ["dcgan-cifar10", "cdcgan-cifar10", "sngan-cifar10",
                                    "sngan-diffaugment-cifar10", "r3gan-cifar10",
                                    "r3gan-diffaugment-cifar10"])
def test_cifar_presets_train_and_resume_bitwise(preset, cifar_root, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    for out, epochs in ((straight, "2"), (split, "1"), (split, "2")):
        where = ("--resume", out) if out == split and epochs == "2" else ("--out", out)
        result = run_cli("train", preset, "--data-dir", cifar_root, *where, "--epochs",
                         epochs, *QUICK, *(small(preset) if where[0] == "--out" else ()))
        assert result.exit_code == 0, result.output
    a = load_file(straight / "checkpoints" / "epoch-0001.safetensors")
    b = load_file(split / "checkpoints" / "epoch-0001.safetensors")
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    run = ganzoo.load(split)
    assert run.sample(4, seed=0).shape == (4, 3, 32, 32)


@pytest.mark.parametrize("preset", ["dcgan-cifar10", "sngan-cifar10"])
def test_cifar_presets_train_as_a_population(preset, cifar_root, tmp_path):
    """dcgan-cifar10 in one vectorised step; SN-GAN's D one member after another, saying
    why: torch's spectral norm updates its power-iteration vectors with an out= division,
    which vmap cannot batch."""
    result = run_cli("train", preset, "--data-dir", cifar_root, "--out",
                     tmp_path / "pop", "--population", "2", "--epochs", "1", *QUICK[:4],
                     *small(preset))
    assert result.exit_code == 0, result.output
    if preset == "sngan-cifar10":
        assert "cannot run under torch.func.vmap" in result.output
        assert "aten::div.out" in result.output and "one after another" in result.output
    else:
        assert "one vectorised step" in result.output and "in turn" not in result.output
    members = sorted((tmp_path / "pop" / "members").glob("member-*/generator.safetensors"))
    assert len(members) == 2


def test_a_cifar_run_is_scored_by_a_cnn_ganzoo_trains_on_it(tmp_path):
    root = write_fake_cifar(tmp_path / "data", per_batch=200, test=200)  # 24 CNN steps
    run = ganzoo.train("dcgan-cifar10", out=tmp_path / "run", data_dir=root, epochs=1,
                       batch_size=64, quiet=True)
    report = run.evaluate(200, data_dir=root)
    assert report.evaluator["evaluator"] == "cnn" and report.evaluator["dataset"] == "cifar10"
    assert report.evaluator["test_accuracy"] > 0.25  # chance: 0.1, after only 21 steps
    assert report.floor.fid < report.fid
