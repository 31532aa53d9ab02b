"""Every expected bad input: one clear line, a non-zero exit, no traceback, nothing lost."""

import types

import pytest
from helpers import assert_clean_error, run_cli

import ganzoo
from ganzoo import Preset, in_process_plugin
from ganzoo.core.plugins import get_registry


def train(*args):
    return run_cli("train", "vanilla-mnist", "--quiet", "--set", "batch_size=32", *args)


def resume(source, *args):
    return run_cli("train", "vanilla-mnist", "--quiet", "--resume", source, *args)


@pytest.mark.parametrize("args, message", [
    (("--set", "nonsense=1"), "unknown setting 'nonsense'"),
    (("--set", "bach_size=1"), "Did you mean 'batch_size'?"),
    (("--set", "epochs=two"), "--set epochs=two: expected int"),
    (("--set", "hflip=maybe"), "expected bool"),
    (("--set", "noequals"), "--set expects key=value"),
    (("--batch-size", "0"), "batch_size must be > 0, got 0"),
    (("--epochs", "-1"), "epochs must be >= 0, got -1"),
    (("--lr", "-0.1"), "lr_g must be > 0"),
    (("--set", "generator=nope"), "unknown generator 'nope'"),
    (("--set", "generator.wings=3"), "generator 'mlp' (ganzoo 0.1.0) rejected its settings"),
    (("--device", "tpu"), "unknown device 'tpu'"),
    (("--batch-size", "100000"), "larger than the dataset"),
])
def test_bad_settings(mnist_root, args, message):
    assert_clean_error(train("--data-dir", mnist_root, *args), message)


def test_cuda_requested_without_cuda(mnist_root):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert_clean_error(train("--data-dir", mnist_root, "--device", "cuda"), "CUDA is not available")


def test_missing_data_root(tmp_path):
    assert_clean_error(train("--data-dir", tmp_path / "nowhere"), "does not exist")


def test_data_root_that_is_a_file(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("GANZOO_DATA", str(tmp_path / "file"))
    assert_clean_error(train(), "is not a directory")


def test_truncated_idx_file(mnist_root):
    images = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    assert_clean_error(train("--data-dir", mnist_root), "corrupt IDX file", "Delete it")


def test_idx_files_that_disagree(mnist_root):
    from helpers import write_idx

    write_idx(mnist_root / "MNIST" / "raw" / "train-labels-idx1-ubyte", [1, 2, 3])
    assert_clean_error(train("--data-dir", mnist_root), "3 labels for 256 images")


@pytest.fixture
def trained_run(mnist_root, tmp_path):
    result = train("--data-dir", mnist_root, "--out", tmp_path / "run", "--epochs", "1")
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_truncated_checkpoint(trained_run, mnist_root, tmp_path):
    bad = tmp_path / "bad.safetensors"
    good = trained_run / "checkpoints" / "epoch-0000.safetensors"
    bad.write_bytes(good.read_bytes()[:1000])
    assert_clean_error(run_cli("sample", bad), "is not a readable safetensors file")
    before = snapshot(trained_run)
    assert_clean_error(resume(bad, "--data-dir", mnist_root),
                       "is not a readable safetensors file")
    assert snapshot(trained_run) == before


def test_garbage_and_foreign_checkpoints(tmp_path):
    import torch
    from safetensors.torch import save_file

    (tmp_path / "garbage.safetensors").write_bytes(b"\x00" * 64)
    assert_clean_error(run_cli("sample", tmp_path / "garbage.safetensors"), "not a readable")
    save_file({"w": torch.zeros(2)}, tmp_path / "foreign.safetensors", metadata={"x": "y"})
    assert_clean_error(run_cli("sample", tmp_path / "foreign.safetensors"),
                       "is not a ganzoo checkpoint")
    save_file({"w": torch.zeros(2)}, tmp_path / "json.safetensors",
              metadata={"format": "ganzoo/1", "config": "{not json", "epoch": "1",
                        "kind": "training"})
    assert_clean_error(run_cli("sample", tmp_path / "json.safetensors"), "damaged metadata")


def test_checkpoint_with_wrong_shapes(trained_run, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    src = trained_run / "generator.safetensors"
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    config = json.loads(meta["config"])
    config["generator"]["kwargs"]["z_dim"] = 10
    meta["config"] = json.dumps(config)
    save_file(tensors, tmp_path / "wrong.safetensors", metadata=meta)
    assert_clean_error(run_cli("sample", tmp_path / "wrong.safetensors"),
                       "generator weights do not fit the model")


def test_export_cannot_be_resumed(trained_run, mnist_root):
    export = trained_run / "generator.safetensors"
    assert_clean_error(resume(export, "--data-dir", mnist_root), "resuming needs a training")


def test_resume_with_another_preset(trained_run, mnist_root):
    def presets(register):
        base = get_registry().preset("vanilla-mnist")
        register(Preset("other", "", base.generator, base.discriminator, base.loss,
                        base.dataset))

    before = snapshot(trained_run)
    plugin = types.SimpleNamespace(ganzoo_register_presets=ganzoo.hookimpl(presets))
    with in_process_plugin(plugin, "other"):
        result = run_cli("train", "other", "--resume", trained_run, "--data-dir", mnist_root)
    assert_clean_error(result, "is a run of preset 'vanilla-mnist', not 'other'")
    assert snapshot(trained_run) == before


def test_resume_from_nothing(tmp_path):
    assert_clean_error(resume(tmp_path), "no checkpoints in run directory")
    assert_clean_error(resume(tmp_path / "missing"), "no run directory or checkpoint")


def test_a_new_run_never_overwrites_an_old_one(trained_run, mnist_root):
    before = snapshot(trained_run)
    result = train("--data-dir", mnist_root, "--out", trained_run, "--epochs", "1")
    assert_clean_error(result, "already holds a run", "--resume")
    assert snapshot(trained_run) == before


def test_sample_to_an_unwritable_place(trained_run, tmp_path):
    (tmp_path / "file").write_text("x")
    assert_clean_error(run_cli("sample", trained_run, "-o", tmp_path / "file" / "grid.png"),
                       "cannot write")


def test_resume_without_a_preset_continues_the_runs_own(trained_run, mnist_root):
    result = run_cli("train", "--resume", trained_run, "--epochs", "2", "--data-dir", mnist_root,
                     "--quiet")
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in ganzoo.load(trained_run).history] == [0, 1]
    assert_clean_error(run_cli("train"), "name a preset to train, or a run to resume")
