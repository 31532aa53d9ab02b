"""Plugins train through `ganzoo train` exactly like the built-in one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import run_cli
from torch import nn

import ganzoo
from ganzoo import ComponentRef, Preset, TrainSettings, in_process_plugin

FIXTURE = Path(__file__).parent / "fixtures" / "ganzoo-toy"


class Checkers(ganzoo.Dataset):
    name = "checkers"
    sample_shape = (1, 4, 4)
    num_classes = 2

    def load(self, split, root):
        board = (torch.arange(16).view(4, 4) + torch.arange(4).view(4, 1)) % 2 * 255
        images = board.to(torch.uint8).expand(64, 1, 4, 4).clone()
        images[32:] = 255 - images[32:]
        return images, (torch.arange(64) >= 32).long()


class Affine(ganzoo.Generator):
    def __init__(self, z_dim=4):
        super().__init__(z_dim, (1, 4, 4))
        self.fc = nn.Linear(z_dim, 16)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 1, 4, 4)


class Hooks:
    @ganzoo.hookimpl
    def ganzoo_register_generators(self, register):
        register("affine", Affine, summary="one linear layer")

    @ganzoo.hookimpl
    def ganzoo_register_datasets(self, register):
        register("checkers", Checkers)

    @ganzoo.hookimpl
    def ganzoo_register_presets(self, register):
        register(Preset(
            name="checkers-gan", summary="an in-process test preset",
            generator=ComponentRef("affine"),
            discriminator=ComponentRef("mlp", {"in_shape": [1, 4, 4], "hidden": [8]}),
            loss=ComponentRef("bce"), dataset=ComponentRef("checkers"),
            train=TrainSettings(batch_size=16, epochs=2, sample_every=1)))


def test_in_process_plugin_trains_listed_and_resumes(tmp_path):
    with in_process_plugin(Hooks(), "checkers"):
        listed = run_cli("list")
        assert "checkers-gan" in listed.output and "affine" in listed.output
        result = run_cli("train", "checkers-gan", "--out", tmp_path / "run", "--quiet",
                         "--epochs", "1")
        assert result.exit_code == 0, result.output
        result = run_cli("train", "checkers-gan", "--resume", tmp_path / "run")
        assert result.exit_code == 0, result.output
        assert "already trained for 1 of 1 epochs" in result.output  # the run's own settings
        result = run_cli("train", "checkers-gan", "--resume", tmp_path / "run", "--epochs", "2")
        assert result.exit_code == 0, result.output
        rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(r)["epoch"] for r in rows] == [0, 1]
        assert run_cli("sample", tmp_path / "run", "-o", tmp_path / "s.png").exit_code == 0


@pytest.fixture(scope="module")
def installed_toy(tmp_path_factory):
    """The fixture package, installed with pip into its own folder like any distribution."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target",
                    str(target), str(FIXTURE)], check=True)
    assert (target / "ganzoo_toy" / "plugin.py").exists()
    return target


def ganzoo_cli(site, *args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    return subprocess.run([sys.executable, "-m", "ganzoo", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_separately_installed_plugin(installed_toy, tmp_path):
    listed = ganzoo_cli(installed_toy, "list", "presets", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "toy-bars" in listed.stdout and "[ganzoo-toy 0.1.0]" in listed.stdout
    shown = json.loads(ganzoo_cli(installed_toy, "plugins", "--json", cwd=tmp_path).stdout)
    toy = [p for p in shown["plugins"] if p["name"] == "toy"][0]
    assert toy["provider"] == "ganzoo-toy 0.1.0" and toy["provides"]["preset"] == ["toy-bars"]
    trained = ganzoo_cli(installed_toy, "train", "toy-bars", "--out", "run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "Epoch [1/2]" in trained.stdout
    assert (tmp_path / "run" / "samples" / "epoch-0001.png").is_file()
