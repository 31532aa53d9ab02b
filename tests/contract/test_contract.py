"""The plugin contract, end to end: a third-party package (``ganzoo_oddities``, beside this
file) installed through its entry point, with one unusual but legal component of every
kind -- a bare ``nn.Linear`` network beside D, state, a lazy term every 4 D updates, a
per-step warm-up, an optimizer with a setting of its own, its own prior, an augment, a
callback, an evaluator and a shipped preset file -- trains solo and as a population,
resumes bit for bit and samples, with no traceback and no fallback line."""

import json
import types
from pathlib import Path

import pytest
import torch
from helpers import assert_clean_error, run_cli
from safetensors.torch import load_file

import ganzoo
from ganzoo import KINDS
from ganzoo.core.plugins import reset_registry

HERE = Path(__file__).parent


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """ganzoo_oddities as pip would leave it: a dist-info naming its entry point."""
    site = tmp_path / "site"
    info = site / "ganzoo_oddities-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ganzoo-oddities\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text("[ganzoo]\noddities = ganzoo_oddities\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(HERE))
    reset_registry()
    yield
    reset_registry()


def cli(*args):
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "warning:" not in result.output, result.output
    return result.output


def test_every_kind_is_registered_with_its_provenance(installed):
    shown = json.loads(cli("plugins", "--json"))
    odd = [p for p in shown["plugins"] if p["name"] == "oddities"][0]
    assert odd["provider"] == "ganzoo-oddities 0.1" and odd["error"] is None
    assert sorted(odd["provides"]) == sorted(kind.name for kind in KINDS)
    assert "[ganzoo-oddities 0.1]" in cli("list", "presets", "odd-*")


def last_checkpoint(run):
    return load_file(sorted((run / "checkpoints").glob("epoch-*.safetensors"))[-1])


@pytest.mark.parametrize("population", [None, 2])
def test_an_unusual_plugin_trains_resumes_bitwise_and_samples(installed, tmp_path, population):
    members = ("--population", population) if population else ()
    said = cli("train", "odd-bars", "--out", tmp_path / "straight", *members)
    if population:
        assert "in one vectorised step" in said and "cannot" not in said, said
    cli("train", "odd-bars", "--out", tmp_path / "split", "--epochs", 1, *members)
    cli("train", "--resume", tmp_path / "split", "--epochs", 2)
    a, b = (last_checkpoint(tmp_path / run) for run in ("straight", "split"))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []

    # 2 epochs of 4 steps, 2 D updates each: the lazy term ran at D updates 0, 4, 8, 12
    assert a["objective_state.lazy_runs"].flatten().tolist() == [4.0] * (population or 1)
    runs = ([tmp_path / "straight" / "members" / f"member-{m:02d}" for m in range(population)]
            if population else [tmp_path / "straight"])
    for run in runs:
        assert (run / "epochs.txt").read_text() == "0\n1\n"  # the callback, per member
        records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
        # the warm-up by step: the rate of each epoch's last step (steps 3 and 7 of 12)
        assert [r["lr_g"] for r in records] == pytest.approx(
            [2e-4 * (0.1 + 0.9 * 3 / 12), 2e-4 * (0.1 + 0.9 * 7 / 12)])
    picked = ("--member", 1) if population else ()
    cli("sample", tmp_path / "straight", "-n", 16, "-o", tmp_path / "grid.png", *picked)
    assert (tmp_path / "grid.png").stat().st_size > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("population", [None, 2])
def test_lazy_terms_and_a_warm_up_replay_as_cuda_graphs_as_they_run_eagerly(
        installed, tmp_path, population):
    """The graph holds a step without the lazy term (steps with it run eagerly), and the
    warm-up's changing rate keeps steps eager until it holds still: graphed and eager
    training agree, and the lazy term ran as often."""
    members = ("--population", population) if population else ()
    for graphs in ("--cuda-graphs", "--no-cuda-graphs"):
        cli("train", "odd-bars", "--out", tmp_path / graphs, "--device", "cuda", "--epochs",
            4, graphs, *members)
    a, b = (last_checkpoint(tmp_path / g) for g in ("--cuda-graphs", "--no-cuda-graphs"))
    assert torch.equal(a["objective_state.lazy_runs"], b["objective_state.lazy_runs"])
    for key in [k for k in a if k.startswith("generator.")]:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-4)


class AsksUndeclared(ganzoo.Objective):
    def d_loss(self, ctx):
        return ganzoo.non_saturating_d(ctx.real_out.logits, ctx.fake_out.logits) * (
            2 if ctx.due("r1") else 1)

    def g_loss(self, ctx):
        return ganzoo.non_saturating_g(ctx.fake_out.logits)


class Hourly(ganzoo.Schedule):
    unit = "hour"

    def factor(self, t, total):
        return 1.0


@pytest.mark.parametrize(("hook", "factory", "setting", "message"), [
    ("ganzoo_register_losses", AsksUndeclared, "loss=wrong",
     "ctx.due('r1') in a D update: no such lazy term"),
    ("ganzoo_register_schedules", Hourly, "schedule_g=wrong",
     "schedule 'wrong' has unit 'hour'; expected 'epoch' or 'step'"),
])
@pytest.mark.parametrize("members", [(), ("--population", 2)])
def test_a_wrong_lazy_term_or_schedule_unit_is_one_clear_error(mnist_root, hook, factory,
                                                                setting, message, members):
    hooks = types.SimpleNamespace(**{hook: ganzoo.hookimpl(
        lambda register: register("wrong", factory))})
    with ganzoo.in_process_plugin(hooks, "wrong"):
        result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--epochs", 1,
                         "--set", setting, "--out", "run", *members)
    assert_clean_error(result, message)
    assert "vmap" not in result.output


def test_a_lazy_declaration_is_checked():
    with pytest.raises(ValueError, match="'d' or 'g'"):
        ganzoo.Lazy("x", 4)
    with pytest.raises(ValueError, match="every N >= 1"):
        ganzoo.Lazy("d", 0)
    assert [ganzoo.Lazy("d", 4).due(i) for i in range(6)] == [True, False, False, False,
                                                              True, False]
