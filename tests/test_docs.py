"""docs/plugins.md is the plugin guide: every kind and every context field is documented,
and its example plugin, run as written, trains solo and as a population."""

import re
import types
from pathlib import Path

import pytest
import torch
from helpers import run_cli
from safetensors.torch import load_file

import ganzoo
from ganzoo import KINDS

GUIDE = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, re.S)


def a_context():
    images = torch.zeros(2, 1, 8, 8)
    batch = ganzoo.core.context.Batch(images, None, torch.zeros(2, 4), images)
    critic = lambda x: x.flatten(1).sum(1)  # noqa: E731
    D = types.SimpleNamespace(num_classes=0, batch_dependent=False)
    models = ganzoo.core.context.Models(D, critic)
    return ganzoo.StepContext("d", batch, models)


def test_every_kind_and_every_context_field_is_documented():
    headings = re.findall(r"^## (\w+)$", GUIDE, re.M)
    for kind in KINDS:
        assert kind.name in headings, f"docs/plugins.md has no section on {kind.plural}"
        assert kind.hook in GUIDE, kind.hook
    fields = [name for name in dir(a_context()) if not name.startswith("_")]
    assert "due" in fields and "g_updates" in fields
    for name in fields:
        assert re.search(rf"``{name}[`(]", ganzoo.StepContext.__doc__), \
            f"StepContext.{name} is not in its docstring"
        assert f"`ctx.{name}" in GUIDE, f"ctx.{name} is not in docs/plugins.md's table"


@pytest.fixture
def guide_plugin(tmp_path):
    """The guide's plugin module, its Python blocks run in order, its preset file beside."""
    package = tmp_path / "ganzoo_mine"
    (package / "presets").mkdir(parents=True)
    (preset,) = [b for b in blocks("toml") if "lazy-stripes" in b]
    (package / "presets" / "lazy-stripes.toml").write_text(preset)
    module = types.ModuleType("ganzoo_mine.plugin")
    module.__file__ = str(package / "plugin.py")
    exec("\n".join(blocks("python")), module.__dict__)
    with ganzoo.in_process_plugin(module, "mine") as registry:
        assert registry.warnings == []
        yield registry


def test_the_guides_plugin_registers_every_kind(guide_plugin):
    mine = [p for p in guide_plugin.plugins if p.name == "mine"][0]
    assert sorted(mine.provides) == sorted(kind.name for kind in KINDS)


@pytest.mark.parametrize("population", [None, 2])
def test_the_guides_preset_trains_and_resumes_bitwise(guide_plugin, tmp_path, population):
    members = ("--population", population) if population else ()
    for args in (("--out", tmp_path / "a"), ("--out", tmp_path / "b", "--epochs", 1),
                 ("--resume", tmp_path / "b", "--epochs", 2)):
        first = ("lazy-stripes",) if args[0] == "--out" else ()
        result = run_cli("train", *first, *args, *(members if first else ()))
        assert result.exit_code == 0, result.output
        assert "cannot run" not in result.output and "Traceback" not in result.output
    a, b = (load_file(sorted((tmp_path / r / "checkpoints").glob("*.safetensors"))[-1])
            for r in "ab")
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    log = (tmp_path / "a" / ("members/member-01" if population else "") / "losses.txt")
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["0", "1"]
