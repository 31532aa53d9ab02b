"""Population training: K members in one vectorised step, each the run a single train with
its seed would be; resumable, a diverged member frozen, scores as a distribution."""

import json
import os
import signal
import subprocess
import sys
import time
import types

import pytest
import torch
from ganzoo_vanilla.models import MLPDiscriminator
from helpers import assert_clean_error, run_cli

import ganzoo
from ganzoo.engine.checkpoint import load
from ganzoo.engine.rundir import checkpoints_in

SMALL = {"batch_size": 16, "quiet": True}


def generator_state(run):
    return load(run.root / "generator.safetensors").section("generator")


def assert_member_is_solo(member, solo, rtol):
    """The member's losses epoch by epoch and its final weights are the solo run's, up to
    the rounding of a batched matmul instead of a plain one (which Adam's normalised steps
    turn into lr-sized moves of a few weights whose gradient is near zero: so the weights
    are compared as a whole, by the norm of the difference)."""
    for mine, theirs in zip(member.history, solo.history, strict=True):
        for key in ("loss_d", "loss_g"):
            assert mine[key] == pytest.approx(theirs[key], rel=rtol), (mine, theirs)
    ours, single = generator_state(member), generator_state(solo)
    assert ours.keys() == single.keys()
    for name, value in single.items():
        if value.is_floating_point():
            gap = (ours[name] - value).norm() / value.norm().clamp(min=1e-12)
            assert gap.item() <= rtol, (name, gap.item())


@pytest.mark.parametrize(("preset", "epochs", "rtol", "settings"), [
    # 256 steps of an MLP, at a third of the preset's rate: at its 3e-4, GAN training on the
    # tiny test data turns the matmuls' rounding (1e-7) into gaps of 3e-3 by step 208 on an
    # AVX-512 CPU; at 1e-4 they stay within 2e-6 for 430 steps
    ("vanilla-mnist", 16, 1e-4, {"lr_g": 1e-4, "lr_d": 1e-4}),
    # 32 steps of a convolutional GAN with batch norm: rounding grows fast here; the solo
    # run on 1 thread instead of 2 is as far from itself (up to 3.5e-2 in a BN bias)
    ("dcgan-mnist", 2, 5e-2, {}),
])
def test_a_member_is_the_solo_run_with_its_seed(tmp_path, mnist_root, preset, epochs, rtol,
                                                settings):
    pop = ganzoo.train(preset, out=tmp_path / "pop", data_dir=mnist_root, epochs=epochs,
                       population=2, **SMALL, **settings)
    solo = ganzoo.train(preset, out=tmp_path / "solo", data_dir=mnist_root, epochs=epochs,
                        seed=1, **SMALL, **settings)
    assert isinstance(pop, ganzoo.Population) and pop.seeds == [0, 1]
    assert_member_is_solo(pop.members[1], solo, rtol)
    first, second = (next(iter(generator_state(m).values())) for m in pop.members)
    assert not torch.equal(first, second)  # two seeds, two different GANs


def test_the_run_directory_holds_each_member_as_a_run(tmp_path, mnist_root):
    pop = ganzoo.train("vanilla-mnist", out=tmp_path / "pop", data_dir=mnist_root, epochs=2,
                       population=3, **SMALL)
    info = json.loads((pop.root / "population.json").read_text())
    assert [m["seed"] for m in info["members"]] == [0, 1, 2]
    saved = load(checkpoints_in(pop.root)[-1])
    assert saved.tensors["generator.net.0.weight"].shape == (3, 256, 64)  # a member axis
    assert json.loads(saved.metadata["population"])["members"][2]["seed"] == 2
    for i, member in enumerate(pop.members):
        assert [r["member"] for r in member.history] == [i, i]
        assert (member.root / "samples" / "epoch-0001.png").is_file()
        assert json.loads((member.root / "environment.json").read_text())[0]["device"]
        assert member.sample(4, seed=0).shape == (4, 1, 28, 28)
    assert "member-02" in (pop.root / "report.html").read_text()  # written at the end
    (pop.root / "report.html").unlink()
    assert run_cli("report", pop.root).exit_code == 0  # a population: its members overlaid
    page = (pop.root / "report.html").read_text()
    assert "member-00: loss D" in page
    newest = str(checkpoints_in(pop.root)[-1])  # the members' checkpoints, listed once
    assert page.count(newest) == 1
    assert newest in ganzoo.write_run_page(pop.members[1].root, tmp_path / "m1.html").read_text()
    out = tmp_path / "m1.safetensors"
    result = run_cli("export", pop.root, "--member", 1, "-o", out)
    assert result.exit_code == 0, result.output
    assert torch.equal(load(out).section("generator")["net.0.weight"],
                       generator_state(pop.members[1])["net.0.weight"])
    assert_clean_error(run_cli("export", pop.root, "--member", 3), "members 0-2")
    assert_clean_error(run_cli("export", pop.root, "--member", "best"), "ganzoo eval")


def test_eval_prints_each_member_and_the_distribution(tmp_path, mnist_root, cheap_evaluator):
    pop = ganzoo.train("vanilla-mnist", out=tmp_path / "pop", data_dir=mnist_root, epochs=1,
                       population=2, sweep={"lr_d": [2e-4, 1e-3]}, **SMALL)
    result = run_cli("eval", pop.root, "-n", 64, "--data-dir", mnist_root, "--no-floor")
    assert result.exit_code == 0, result.output
    assert "median" in result.output and "IQR" in result.output and "<- best" in result.output
    scores = json.loads((pop.root / "eval.json").read_text())
    fids = [scores["members"][str(i)]["generator"]["fid"] for i in range(4)]
    assert scores["fid"]["min"] == min(fids) and scores["fid"]["max"] == max(fids)
    assert scores["best"] == fids.index(min(fids))
    assert scores["by_settings"]["lr_d=0.001"]["max"] == max(fids[2:])  # per swept setting
    assert "FID at lr_d=0.0002: median" in result.output
    result = run_cli("sample", pop.root, "--member", "best", "-n", 4, "-o", tmp_path / "b.png")
    assert result.exit_code == 0 and (tmp_path / "b.png").is_file(), result.output


class PoisonedForSeed1(MLPDiscriminator):
    """vanilla-mnist's D, built with NaN weights when seeded with 1 (member 1's seed)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if torch.initial_seed() == 1:
            with torch.no_grad():
                next(iter(self.parameters())).fill_(float("nan"))


def test_a_member_that_diverges_is_frozen_and_the_others_train_on(tmp_path, mnist_root):
    clean = ganzoo.train("vanilla-mnist", out=tmp_path / "clean", data_dir=mnist_root,
                         epochs=2, population=3, **SMALL)
    hooks = types.SimpleNamespace(ganzoo_register_discriminators=ganzoo.hookimpl(
        lambda register: register("poisoned", PoisonedForSeed1)))
    with ganzoo.in_process_plugin(hooks, "poisoned"):
        pop = ganzoo.train("vanilla-mnist", out=tmp_path / "pop", data_dir=mnist_root,
                           epochs=2, population=3, discriminator="poisoned", **SMALL)
    assert set(pop.frozen) == {1} and "non-finite loss" in pop.frozen[1]
    for i in (0, 2):  # untouched by the NaN next to them
        assert pop.members[i].history == [
            {**r, "samples_per_s": pop.members[i].history[e]["samples_per_s"],
             "time_s": pop.members[i].history[e]["time_s"]}
            for e, r in enumerate(clean.members[i].history)]
    first, last = (load(p) for p in checkpoints_in(pop.root))
    frozen_at = first.tensors["generator.net.0.weight"][1]
    final = last.tensors["generator.net.0.weight"][1]  # no update after epoch 0
    assert torch.allclose(final, frozen_at, rtol=0, atol=0, equal_nan=True)
    assert not torch.isfinite(final).all()  # the NaN reached G before the check froze it
    assert last.frozen.keys() == {1}  # the checkpoint says so
    # non-finite weights are never written where a loader takes them for a trained G
    assert not (pop.members[1].root / "generator.safetensors").exists()
    with pytest.raises(ganzoo.ConfigError, match="member 1 was frozen"):
        pop.export(1, tmp_path / "m1.safetensors")
    assert pop.export(0, tmp_path / "m0.safetensors").is_file()


def test_sigkill_mid_run_then_resume_continues_every_member(tmp_path, mnist_root):
    args = ("--data-dir", mnist_root, "--batch-size", 8, "--population", 2, "-q")
    whole = run_cli("train", "vanilla-mnist", "--out", tmp_path / "whole", "--epochs", 4, *args)
    assert whole.exit_code == 0, whole.output
    run = tmp_path / "killed"
    command = [sys.executable, "-m", "ganzoo", "train", "vanilla-mnist", "--out", str(run),
               "--epochs", "100000", *map(str, args)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "epoch-0001.safetensors").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    resumed = run_cli("train", "vanilla-mnist", "--resume", run, "--epochs", 4, *args[:2],
                      "-q")
    assert resumed.exit_code == 0, resumed.output
    for i in range(2):
        done = ganzoo.Population(run).members[i].history
        assert [r["epoch"] for r in done] == [0, 1, 2, 3]
        reference = ganzoo.Population(tmp_path / "whole").members[i].history
        assert [(r["loss_d"], r["loss_g"]) for r in done] == [
            (r["loss_d"], r["loss_g"]) for r in reference]
        assert torch.equal(generator_state(ganzoo.Population(run).members[i])["net.0.weight"],
                           generator_state(ganzoo.Population(tmp_path / "whole").members[i])[
                               "net.0.weight"])


def test_a_step_vmap_cannot_run_trains_member_after_member_saying_so(tmp_path, mnist_root,
                                                                       capsys):
    """WGAN-GP's penalty calls autograd.grad on fresh leaves, which vmap refuses: the
    members train in turn, each drawing the penalty's random points from its own stream,
    so a member is its solo run again."""
    settings = {"batch_size": 16, "epochs": 1, "data_dir": mnist_root}
    pop = ganzoo.train("wgan-gp-mnist", out=tmp_path / "pop", population=2, **settings)
    said = capsys.readouterr().out
    assert said.count("cannot run under torch.func.vmap") == 1, said
    assert "one after another" in said
    solo = ganzoo.train("wgan-gp-mnist", out=tmp_path / "solo", seed=1, quiet=True, **settings)
    assert_member_is_solo(pop.members[1], solo, 1e-4)


def test_bench_times_populations_against_the_solo_step(mnist_root):
    args = ("bench", "vanilla-mnist", "--data-dir", mnist_root, "--batch-size", "16",
            "--seconds", "0.1", "--no-baseline", "--population", "1,3", "--json")
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["results"]
    assert [(r["impl"], r["members"]) for r in rows] == [
        ("ganzoo", 1), ("population K=1", 1), ("population K=3", 3)]
    solo = rows[0]["samples_per_s"]
    for row in rows[1:]:
        assert row["vs_solo"] == pytest.approx(row["samples_per_s"] / solo)
        # a population step does the members' arithmetic: K times the solo step's
        assert row["flops_per_step"] == pytest.approx(row["members"] * rows[0]["flops_per_step"],
                                                      rel=0.05)
    assert_clean_error(run_cli(*args[:-1], "--population", "0,2"), "must be positive")


def test_a_sweep_makes_members_of_each_setting_each_its_solo_run(tmp_path, mnist_root):
    pop = ganzoo.train("vanilla-mnist", out=tmp_path / "pop", data_dir=mnist_root, epochs=3,
                       population=2, sweep={"lr_g": [1e-4, 1e-3]}, **SMALL)
    assert pop.seeds == [0, 1, 0, 1]
    assert pop.settings == [{"lr_g": 1e-4}] * 2 + [{"lr_g": 1e-3}] * 2
    assert pop.members[3].preset.train.lr_g == 1e-3  # its config.json: a solo run's preset
    solo = ganzoo.train(pop.members[3].preset, out=tmp_path / "solo", data_dir=mnist_root,
                        quiet=True)
    assert_member_is_solo(pop.members[3], solo, 1e-3)
    # the same seed at two learning rates: two different runs
    assert pop.members[1].history[-1]["loss_g"] != pop.members[3].history[-1]["loss_g"]
    assert_clean_error(run_cli("train", "vanilla-mnist", "--sweep", "batch_size=16,32",
                               "--data-dir", mnist_root, "--out", tmp_path / "bad"),
                       "batch_size cannot differ inside one population")


@pytest.mark.parametrize(("preset", "key", "values"), [
    ("acgan-mnist", "loss.class_weight", [0.25, 4.0]),  # a weight inside the losses
    ("wgan-mnist", "loss.clip", [0.005, 0.05]),  # a number the hook after D's update reads
    ("wgan-gp-mnist", "loss.weight", [1.0, 10.0]),  # members in turn (the penalty)
])
def test_a_swept_loss_weight_gives_each_member_its_own(tmp_path, mnist_root, preset, key,
                                                       values):
    settings = {"data_dir": mnist_root, "epochs": 1, "batch_size": 32, "quiet": True}
    pop = ganzoo.train(preset, out=tmp_path / "pop", population=1, sweep={key: values},
                       **settings)
    assert pop.settings == [{key: v} for v in values] and pop.seeds == [0, 0]
    solo = ganzoo.train(pop.members[1].preset, out=tmp_path / "solo", **settings)
    mine, theirs = pop.members[1].history[0], solo.history[0]
    for loss in ("loss_d", "loss_g"):
        assert mine[loss] == pytest.approx(theirs[loss], rel=2e-2, abs=1e-3), loss
    assert pop.members[0].history[0]["loss_d"] != mine["loss_d"]  # same seed, own weight


def test_a_loss_sweep_takes_numbers_only(tmp_path, mnist_root, monkeypatch):
    with pytest.raises(ganzoo.ConfigError, match="loss.clip takes numbers"):
        ganzoo.train("wgan-mnist", out=tmp_path / "pop", data_dir=mnist_root,
                     sweep={"loss.clip": ["wide"]}, quiet=True)
    from ganzoo_classic.objectives import WGAN

    original = WGAN.__init__

    def kept_as_a_tensor(self, clip=0.01):  # not a number attribute: refused, not ignored
        original(self, clip)
        self.clip = torch.tensor(self.clip)

    monkeypatch.setattr(WGAN, "__init__", kept_as_a_tensor)
    with pytest.raises(ganzoo.ConfigError, match="cannot give each member"):
        ganzoo.train("wgan-mnist", out=tmp_path / "pop2", data_dir=mnist_root,
                     sweep={"loss.clip": [0.01, 0.02]}, quiet=True)
    assert_clean_error(run_cli("train", "wgan-mnist", "--sweep", "generator.z_dim=8,16",
                               "--data-dir", mnist_root, "--out", tmp_path / "bad"),
                       "generator.z_dim cannot differ inside one population")


@pytest.mark.parametrize("preset", ["cgan-mnist", "began-mnist", "infogan-mnist", "wgan-mnist",
                                    "hinge-dcgan-mnist"])
def test_every_kind_of_step_trains_as_a_population(tmp_path, mnist_root, preset):
    """A conditional G with EMA, an objective's state (BEGAN's k) and network (InfoGAN's Q),
    a hook with n_critic and RMSprop (WGAN's clipping), spectral norm (which vmap cannot
    batch: run in turn): member 1 trains as its solo run does."""
    settings = {"data_dir": mnist_root, "epochs": 1, "batch_size": 32, "quiet": True}
    pop = ganzoo.train(preset, out=tmp_path / "pop", population=2, **settings)
    solo = ganzoo.train(preset, out=tmp_path / "solo", seed=1, **settings)
    mine, theirs = pop.members[1].history[0], solo.history[0]
    for key in ("loss_d", "loss_g"):
        assert mine[key] == pytest.approx(theirs[key], rel=2e-2, abs=1e-3), key
    assert pop.members[0].history[0]["loss_d"] != mine["loss_d"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_population_trains_on_cuda_each_member_its_solo_run(tmp_path, mnist_root):
    settings = {"data_dir": mnist_root, "epochs": 2, "device": "cuda", **SMALL}
    pop = ganzoo.train("vanilla-mnist", out=tmp_path / "pop", population=2, **settings)
    solo = ganzoo.train("vanilla-mnist", out=tmp_path / "solo", seed=1, cuda_graphs=False,
                        **settings)
    assert_member_is_solo(pop.members[1], solo, 1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_population_step_replays_as_one_cuda_graph_and_a_freeze_recaptures_it():
    """The graph-replayed population matches the eager one; a member frozen after the
    capture stays as it was (the step is captured again with its put-back)."""
    from ganzoo.api.presets import resolve_preset
    from ganzoo.core.build import build
    from ganzoo.engine.population import PopulationStep
    from ganzoo.engine.step import CudaGraphStep

    preset = resolve_preset("vanilla-mnist")

    def make():
        members = []
        for seed in range(3):
            torch.manual_seed(seed)
            members.append(build(preset).to("cuda"))
        return PopulationStep(members, [preset] * 3, capturable=True)

    eager, graphed = make(), make()
    run = CudaGraphStep(graphed, warmup=2)
    gen = torch.Generator(device="cuda").manual_seed(0)
    for i in range(10):
        if i == 6:
            for step in (eager, graphed):
                step.freeze(1)
            run.recapture()
            kept = graphed.generator.member(1)
        real = torch.rand(3, 64, 1, 28, 28, device="cuda", generator=gen) * 2 - 1
        noise = torch.randn(3, 64, 64, device="cuda", generator=gen)
        torch.testing.assert_close(run(real, noise=noise), eager(real, noise=noise),
                                   rtol=1e-4, atol=1e-5)
    assert run.graph is not None and not run.eager
    for name, value in graphed.generator.member(1).items():
        assert torch.equal(value, kept[name]), name
    for name, value in eager.generator.state_dict().items():
        torch.testing.assert_close(graphed.generator.state_dict()[name], value,
                                   rtol=1e-4, atol=1e-5)


class LinearHead(ganzoo.Objective):
    """The non-saturating GAN plus a term from aux networks a plugin may legally return:
    a bare ``nn.Linear`` (its ``weight`` a name the stacked module also answers), a
    module holding only a buffer, and one with no tensors at all."""

    def networks(self, generator, discriminator):
        return {"head": ganzoo.Network("d", torch.nn.Linear(784, 1)),
                "scale": ganzoo.Network("d", Scale()),
                "same": ganzoo.Network("g", torch.nn.Identity())}

    def d_loss(self, ctx):
        head, scale = ctx.nets["head"], ctx.nets["scale"]
        gap = head(scale(ctx.real.flatten(1))) - head(ctx.nets["same"](ctx.fake).flatten(1))
        return ganzoo.non_saturating_d(ctx.real_out.logits, ctx.fake_out.logits) + \
            0.1 * gap.pow(2).mean()

    def g_loss(self, ctx):
        return ganzoo.non_saturating_g(ctx.fake_out.logits)


class Scale(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("factor", torch.tensor(0.5))

    def forward(self, x):
        return x * self.factor


class TaggedAdam(torch.optim.Adam):
    """A registered optimizer with a setting of its own, read in every step."""

    def __init__(self, params, *, lr, betas, capturable=False, tag="mine"):
        super().__init__(params, lr=lr, betas=betas, capturable=capturable)
        self.tag = tag

    def step(self, closure=None):
        assert self.tag == "kept"
        return super().step(closure)


def test_any_module_an_objective_returns_stacks_and_an_optimizer_keeps_its_settings(
        tmp_path, mnist_root, capsys):
    hooks = types.SimpleNamespace(
        ganzoo_register_losses=ganzoo.hookimpl(lambda register: register("head", LinearHead)),
        ganzoo_register_optimizers=ganzoo.hookimpl(
            lambda register: register("tagged", TaggedAdam)))
    settings = {"data_dir": mnist_root, "epochs": 1, "loss": "head", "lr_g": 1e-4,
                "lr_d": 1e-4, "optimizer_d": {"name": "tagged", "kwargs": {"tag": "kept"}},
                **SMALL}
    with ganzoo.in_process_plugin(hooks, "odd"):
        pop = ganzoo.train("vanilla-mnist", out=tmp_path / "pop", population=2,
                           **{**settings, "quiet": False})
        said = capsys.readouterr().out
        assert "in one vectorised step" in said and "cannot run" not in said, said
        solo = ganzoo.train("vanilla-mnist", out=tmp_path / "solo", seed=1, **settings)
    assert_member_is_solo(pop.members[1], solo, 1e-4)
