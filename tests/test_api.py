"""The Python API as a notebook uses it: ``import ganzoo`` and nothing deeper."""

import click
import pytest
import torch

import ganzoo

TINY = {"batch_size": 32, "epochs": 1, "sample_every": 1}


@pytest.fixture
def run(mnist_root, tmp_path):
    return ganzoo.train("vanilla-mnist", out=tmp_path / "run", data_dir=mnist_root, quiet=True,
                        **TINY)


def test_train_sample_evaluate_like_a_notebook(run, mnist_root):
    assert isinstance(run, ganzoo.Run) and run.preset.name == "vanilla-mnist"
    assert [r["epoch"] for r in run.history] == [0]
    assert run.history[0]["steps"] == 256 // 32
    assert [p.name for p in run.checkpoints] == ["epoch-0000.safetensors"]
    before = torch.get_rng_state()
    images = run.sample(16, seed=3)
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is left alone
    assert images.shape == (16, 1, 28, 28) and images.abs().max() <= 1
    assert torch.equal(images, run.sample(16, seed=3))
    assert not torch.equal(images, run.sample(16, seed=4))
    assert not torch.equal(run.sample(4), run.sample(4))  # no seed: a fresh draw each time
    report = ganzoo.evaluate(run, n=1000, data_dir=mnist_root)
    assert isinstance(report, ganzoo.Report) and report.n == 1000
    assert report.fid == report.generator.fid >= 0 and 1 <= report.classifier_score <= 10
    assert report.floor is not None and report.floor.fid < report.fid
    assert report.to_dict()["generator"]["modes"] == report.modes
    text = str(report)
    assert "vanilla-mnist after 1 epochs" in text and "floor (real)" in text
    assert run.evaluate(n=200, data_dir=mnist_root, floor=False).floor is None


def test_load_a_run_directory_or_a_checkpoint(run):
    again = ganzoo.load(run.root)
    assert again.preset == run.preset and again.history == run.history
    from_file = ganzoo.load(run.checkpoints[-1])
    assert from_file.root == run.root.resolve()
    assert torch.equal(from_file.sample(4, seed=0), run.sample(4, seed=0))
    with pytest.raises(ganzoo.CheckpointError, match="no run directory or checkpoint"):
        ganzoo.load(run.root / "nothing")


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": "two"}, "epochs: expected int, got 'two'"),
    ({"lr_g": float("nan")}, "lr_g=nan: must be a finite number"),
    ({"hflip": 1}, "hflip: expected bool"),
    ({"bach_size": 8}, "Did you mean 'batch_size'?"),
    ({"batch_size": 0}, "batch_size must be > 0"),
    ({"generator": 3}, "generator: expected a component name"),
    ({"loss": "nope"}, "unknown loss 'nope'"),
])
def test_overrides_are_python_values_checked_with_one_clear_error(mnist_root, tmp_path,
                                                                  overrides, message):
    with pytest.raises(ganzoo.ConfigError, match=message) as caught:
        ganzoo.train("vanilla-mnist", out=tmp_path / "run", data_dir=mnist_root, quiet=True,
                     **overrides)
    assert not isinstance(caught.value, click.ClickException)  # the CLI alone knows click
    assert caught.value.exit_code == 2
    assert not (tmp_path / "run").exists()


def test_overrides_swap_and_merge_components(mnist_root, tmp_path):
    run = ganzoo.train("vanilla-mnist", out=tmp_path / "run", data_dir=mnist_root, quiet=True,
                       epochs=0, generator={"z_dim": 8}, loss="hinge", lr_d=1e-3)
    preset = run.preset
    assert preset.generator.kwargs == {"z_dim": 8, "out_shape": [1, 28, 28]}
    assert preset.loss.name == "hinge" and preset.train.lr_d == 1e-3
    assert run.generator().z_dim == 8


def test_listing_and_benchmarking_return_objects(mnist_root):
    presets = ganzoo.list_presets("vanilla*")
    assert [p.name for p in presets] == ["vanilla-fashion-mnist", "vanilla-mnist"]
    assert isinstance(presets[1].obj, ganzoo.Preset) and presets[1].provider.startswith("ganzoo")
    assert "mlp" in [c.name for c in ganzoo.list_components("generators")]
    results = ganzoo.bench("vanilla-mnist", batch_sizes=[32], seconds=0.1, data_dir=mnist_root,
                           baseline=False)
    assert [(r.batch_size, r.precision) for r in results] == [(32, "fp32")]
    assert results[0].samples_per_s > 0
