"""Presets as files: the registry/ catalogue, hand-written TOML, a run's config.json."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_clean_error, run_cli
from safetensors.torch import load_file

import ganzoo

ROOT = Path(__file__).resolve().parents[1]
TOY = """
name = "hand-made"
summary = "A small MLP GAN written by hand"
generator = { name = "mlp", kwargs = { z_dim = 8, out_shape = [1, 28, 28], hidden = [32] } }
discriminator = { name = "mlp", kwargs = { in_shape = [1, 28, 28], hidden = [16] } }
loss = { name = "bce" }
dataset = { name = "mnist" }

[train]
batch_size = 32
epochs = 1
lr_g = 1e-3
"""


def test_the_catalogue_is_the_registry_folder():
    files = sorted(p.stem for p in (ROOT / "registry").glob("*.toml"))
    listed = [e.name for e in ganzoo.list_presets()]
    assert listed == files and "vanilla-mnist" in listed
    for name in files:
        assert ganzoo.load_preset_file(ROOT / "registry" / f"{name}.toml").name == name


def test_vanilla_mnist_is_the_tutorials_preset():
    preset = ganzoo.list_presets("vanilla-mnist")[0].obj
    t = preset.train
    assert (t.batch_size, t.epochs, t.lr_g, t.lr_d, t.beta1, t.beta2, t.hflip) == (
        64, 101, 3e-4, 3e-4, 0.9, 0.999, True)
    assert preset.generator.kwargs == {"z_dim": 64, "out_shape": [1, 28, 28]}


def test_a_hand_written_toml_preset_trains(mnist_root, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(TOY)
    result = run_cli("train", path, "--data-dir", mnist_root, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["name"] == "hand-made" and config["train"]["lr_g"] == 1e-3
    assert config["train"]["beta2"] == 0.999  # a key left out keeps its default


@pytest.mark.parametrize("change, message", [
    (("lr_g = 1e-3", "lr_g = 'fast'"), "train.lr_g: expected float, got 'fast'"),
    (("batch_size = 32", "bach_size = 32"), "train.bach_size: expected a training setting "
                                            "(did you mean 'batch_size'?)"),
    (("batch_size = 32", "batch_size = -1"), "train.batch_size must be > 0"),
    (('loss = { name = "bce" }', 'loss = { nme = "bce" }'), "loss.nme: expected only name"),
    (('loss = { name = "bce" }', ""), "loss: expected a component"),
    (('dataset = { name = "mnist" }', 'dataset = 3'), "dataset: expected { name"),
    (('summary = "', 'sumary = "'), "sumary: expected one of"),
    (("[train]", "[train"), "not valid TOML"),
])
def test_a_malformed_preset_file_gets_one_line_naming_file_and_key(tmp_path, change, message):
    path = tmp_path / "bad.toml"
    path.write_text(TOY.replace(*change))
    result = run_cli("train", path)
    assert_clean_error(result, str(path), message)
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_missing_preset_file(tmp_path):
    assert_clean_error(run_cli("train", tmp_path / "nope.toml"), "no preset file at")


def test_show_prints_a_preset_that_trains_as_itself(tmp_path):
    shown = run_cli("list", "--show", "cgan-mnist")
    assert shown.exit_code == 0, shown.output
    path = tmp_path / "copy.toml"
    path.write_text(shown.output)
    assert ganzoo.load_preset_file(path) == ganzoo.list_presets("cgan-mnist")[0].obj


def test_a_runs_config_retrains_the_same_run(mnist_root, tmp_path):
    first = ganzoo.train("vanilla-mnist", out=tmp_path / "a", data_dir=mnist_root, quiet=True,
                         epochs=1, batch_size=32, seed=5, generator={"z_dim": 16})
    result = run_cli("train", first.root / "config.json", "--data-dir", mnist_root, "--out",
                     tmp_path / "b", "-q")
    assert result.exit_code == 0, result.output
    again = ganzoo.load(tmp_path / "b")
    assert again.preset == first.preset
    a, b = (load_file(r.checkpoints[-1]) for r in (first, again))
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)


def test_a_non_editable_install_lists_every_preset_from_registry(tmp_path):
    """``pip install .`` (not editable) installs the catalogue as ganzoo_registry data."""
    source = tmp_path / "src"
    for folder in ("ganzoo", "plugins", "registry"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for file in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / file, source / file)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target",
                    str(site), str(source)], check=True)
    assert not (site / "registry").exists() and (site / "ganzoo_registry").is_dir()
    code = ("import ganzoo, ganzoo_registry, json; print(json.dumps([ganzoo.__file__, "
            "ganzoo_registry.__file__, [e.name for e in ganzoo.list_presets()]]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    core, catalogue, presets = json.loads(done.stdout)
    assert core.startswith(str(site)) and catalogue.startswith(str(site))
    assert presets == sorted(p.stem for p in (ROOT / "registry").glob("*.toml"))
