"""Test helpers: small IDX files and in-process CLI calls."""

import struct

import numpy as np


def write_idx(path, array):
    """An IDX writer independent of ganzoo's, so tests check the reader against the format."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, 8, array.ndim, *array.shape)
    path.write_bytes(header + array.tobytes())


def fake_digits(n, seed):
    """Small MNIST-like images: a bright stroke whose position depends on the label."""
    gen = np.random.default_rng(seed)
    labels = gen.integers(0, 10, n).astype(np.uint8)
    images = (gen.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 4:24, 2 + 2 * label: 5 + 2 * label] = 255
    return images, labels


def make_mnist_root(root, n_train=256, n_test=64, folder="MNIST"):
    """A data root with small IDX files in ``<root>/<folder>/raw`` (MNIST, FashionMNIST)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = fake_digits(n, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def run_cli(*args):
    """Invoke the CLI in-process; returns click's Result."""
    from click.testing import CliRunner

    from ganzoo.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_error(result, *fragments):
    """A non-zero exit with one clear message and no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
