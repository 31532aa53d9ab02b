"""Hostile input, generated: every case is a ganzoo error (one line, exit 2) or valid.

Run with ``--hypothesis-show-statistics`` to see how many examples each test tried.
"""

import gzip
import io
import json
import pickle
import struct

import pytest
import torch
from helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as safetensors_bytes

from ganzoo import CheckpointError, ConfigError, DataError, GanzooError
from ganzoo.core.build import build
from ganzoo.core.config import TRAIN_FIELDS, apply_overrides, parse_pairs
from ganzoo.core.idx import read_idx
from ganzoo.core.plugins import get_registry
from ganzoo.engine import checkpoint

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# -- IDX files --------------------------------------------------------------------------------
def idx_bytes(magic_type=0x08, dims=(), payload=b""):
    return bytes([0, 0, magic_type, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


@FUZZ
@given(data=st.binary(max_size=300), form=st.sampled_from(["raw", "gzip", "raw named .gz"]))
def test_random_bytes_as_idx(tmp_path, data, form):
    path = tmp_path / ("f" if form == "raw" else "f.gz")
    path.write_bytes(gzip.compress(data) if form == "gzip" else data)
    try:
        array = read_idx(path)
    except DataError:
        return
    assert array.dtype == torch.uint8 and array.numel() == len(data) - 4 - 4 * array.ndim


@FUZZ
@given(magic=st.integers(0, 255), dims=st.lists(st.integers(0, 2**32 - 1), max_size=6),
       extra=st.integers(-8, 8))
def test_idx_headers_with_any_dimensions(tmp_path, magic, dims, extra):
    """Absurd dimensions must be refused from the header, before anything is allocated."""
    count = 1
    for d in dims:
        count *= d
    size = max(0, min(count, 4096) + extra)
    path = tmp_path / "f"
    path.write_bytes(idx_bytes(magic, dims, bytes(size)))
    try:
        array = read_idx(path)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert magic == 0x08 and 1 <= len(dims) <= 4 and list(array.shape) == dims


# -- --set overrides ----------------------------------------------------------------------------
keys = st.one_of(st.sampled_from(sorted(TRAIN_FIELDS)), st.text(max_size=12),
                 st.sampled_from(["generator", "loss", "dataset.x", "generator.z_dim",
                                  "discriminator.hidden", "generator.slope", "loss.weight"]))
values = st.one_of(st.text(max_size=12), st.integers(-10**3, 10**3).map(str),
                   st.sampled_from(["nan", "inf", "-inf", "1e400", "true", "[]", "null",
                                    "[1,2]", "{}", "-1", "0", "0.5", "mlp", "bce"]))


@FUZZ
@given(items=st.lists(st.tuples(keys, values).map("=".join), max_size=4))
def test_set_overrides(items):
    preset = get_registry().preset("vanilla-mnist")
    try:
        resolved = apply_overrides(preset, parse_pairs(items))
        build(resolved)
    except ConfigError as exc:
        message = str(exc).strip()
        assert message and "\n" not in message and "Traceback" not in message, message
        return
    for name in ("lr_g", "lr_d", "beta1", "beta2"):
        value = getattr(resolved.train, name)
        assert value == value and abs(value) != float("inf"), (name, value)
    # what was accepted is what the preset now says
    for key, value in parse_pairs(items).items():
        if key in TRAIN_FIELDS:
            assert getattr(resolved.train, key) == value, (key, value)


def test_set_overrides_in_the_cli_write_nothing(tmp_path, mnist_root):
    for item in ("lr_g=nan", "lr_d=inf", "beta2=-inf", "batch_size=-3", "generator.z_dim=[1]",
                 "generator=nope", "epochs=1.5", "beta1=1", "generator.hidden=-4"):
        result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--set", item,
                         "--out", tmp_path / "run", "-q")
        assert result.exit_code == 2 and "Traceback" not in result.output, (item, result.output)
        assert not (tmp_path / "run").exists(), item


# -- checkpoints --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    from helpers import make_mnist_root

    root = tmp_path_factory.mktemp("fuzz")
    data = make_mnist_root(root / "data")
    result = run_cli("train", "vanilla-mnist", "--data-dir", data, "--epochs", 1, "-q",
                     "--out", root / "run")
    assert result.exit_code == 0, result.output
    return root / "run" / "checkpoints" / "epoch-0000.safetensors"


def load_and_restore(path):
    """What `ganzoo train --resume` does with a checkpoint, up to training: read it, build
    its preset's step and restore the step from it. Returns the checkpoint."""
    from ganzoo.engine.step import TrainStep

    ckpt = checkpoint.load_training(path)
    TrainStep(build(ckpt.preset), ckpt.preset).restore(ckpt)
    return ckpt


@FUZZ
@given(cut=st.integers(0, 2**20), flip=st.integers(0, 2**20), byte=st.integers(0, 255))
def test_truncated_and_damaged_checkpoints(tmp_path, good_checkpoint, cut, flip, byte):
    good = good_checkpoint.read_bytes()
    data = bytearray(good[: cut % (len(good) + 1)])
    if data:
        data[flip % len(data)] = byte
    path = tmp_path / "c.safetensors"
    path.write_bytes(bytes(data))
    try:
        load_and_restore(path)
    except GanzooError:
        return
    # only a change that kept the file valid may load (e.g. a byte inside a weight)
    assert len(data) == len(good)


def read_checkpoint(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def rewrite(tmp_path, meta, tensors):
    path = tmp_path / "c.safetensors"
    path.write_bytes(safetensors_bytes(tensors, metadata=meta))
    return path


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=8)


@FUZZ
@given(field=st.sampled_from(["format", "kind", "config", "epoch", "step", "optimizers",
                              "preset", "elapsed"]),
       value=st.one_of(st.text(max_size=20), json_values.map(json.dumps)))
def test_checkpoint_metadata_that_is_wrong(tmp_path, good_checkpoint, field, value):
    meta, tensors = read_checkpoint(good_checkpoint)
    original, meta[field] = meta.get(field), value
    path = rewrite(tmp_path, meta, tensors)
    try:
        ckpt = load_and_restore(path)
    except GanzooError:
        return
    # a value that loads is one the reader understood, and it reads as written
    if field in ("epoch", "step"):
        assert getattr(ckpt, field) == int(value) >= 0, (field, value)
    elif field == "elapsed":
        assert ckpt.elapsed == float(value) and 0 <= ckpt.elapsed < float("inf"), value
    elif field == "preset":  # the name, for readers: the config is what is restored
        assert ckpt.preset.name == "vanilla-mnist"
    else:  # format, kind, config, optimizers: only the one right value loads
        assert value == original, (field, value)


@FUZZ
@given(name=st.sampled_from(["generator.net.0.weight", "discriminator.net.0.bias",
                             "opt_g.0.exp_avg", "opt_d.1.step", "rng.cpu"]),
       shape=st.lists(st.integers(0, 5), max_size=3),
       dtype=st.sampled_from([torch.float32, torch.float16, torch.int64, torch.uint8,
                              torch.bool]))
def test_checkpoint_tensors_of_wrong_shape_or_dtype(tmp_path, good_checkpoint, name, shape,
                                                    dtype):
    meta, tensors = read_checkpoint(good_checkpoint)
    original = tensors[name]
    tensors[name] = torch.zeros(shape, dtype=dtype)
    path = rewrite(tmp_path, meta, tensors)
    try:
        load_and_restore(path)
    except CheckpointError:
        return
    assert list(original.shape) == shape and original.dtype == dtype


# -- the offline MNIST route's unpickler ------------------------------------------------------
@FUZZ
@given(module=st.text(min_size=1, max_size=20).filter(lambda s: "\n" not in s),
       name=st.text(min_size=1, max_size=20).filter(lambda s: "\n" not in s))
def test_the_unpickler_refuses_every_other_global(module, name):
    from ganzoo import load_numpy_pickle

    allowed = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
               "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}
    payload = b"c" + module.encode() + b"\n" + name.encode() + b"\n."  # GLOBAL, STOP
    if (module, name) in allowed:
        return
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_numpy_pickle(io.BytesIO(payload))
