"""The fast step computes what a plain eager step computes; bf16 trains; the baseline is the
tutorial's algorithm."""

import copy
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers import run_cli

from ganzoo.benchmark.baseline import TutorialStep
from ganzoo.core.build import build
from ganzoo.core.config import apply_overrides
from ganzoo.core.plugins import get_registry
from ganzoo.engine.step import TrainStep

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))


def vanilla_parts():
    torch.manual_seed(0)
    return build(get_registry().preset("vanilla-mnist"))


def reference_step(G, D, real, z, lr_d):
    """A straightforward eager step: separate D passes, D's SGD update, then G against the
    updated D."""
    fake = G(z)
    d_real, d_fake = D(real), D(fake.detach())
    loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
              + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))) / 2
    d_grads = torch.autograd.grad(loss_d, list(D.parameters()))
    with torch.no_grad():
        for p, g in zip(D.parameters(), d_grads, strict=True):
            p -= lr_d * g
    d_out = D(fake)
    loss_g = F.binary_cross_entropy_with_logits(d_out, torch.ones_like(d_out))
    g_grads = torch.autograd.grad(loss_g, list(G.parameters()))
    return loss_d, loss_g, d_grads, g_grads


def test_fast_step_matches_the_eager_reference():
    preset = apply_overrides(get_registry().preset("vanilla-mnist"),
                             {"optimizer_g": "sgd", "optimizer_d": "sgd", "lr_d": 0.05})
    torch.manual_seed(0)
    parts = build(preset)
    G, D = parts.generator, parts.discriminator
    real = torch.rand(32, 1, 28, 28) * 2 - 1
    torch.manual_seed(1)
    z = torch.randn(32, 64)
    want = reference_step(copy.deepcopy(G), copy.deepcopy(D), real, z, lr_d=0.05)

    step = TrainStep(parts, preset)
    torch.manual_seed(1)  # the step draws the same z
    losses = step(real)
    torch.testing.assert_close(losses, torch.stack(want[:2]).detach(), rtol=1e-6, atol=1e-6)
    for got, ref in zip([p.grad for p in D.parameters()], want[2], strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-7)
    for got, ref in zip([p.grad for p in G.parameters()], want[3], strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-7)
    assert all(p.requires_grad for p in D.parameters())


def test_a_frozen_discriminator_weight_stays_frozen():
    parts = vanilla_parts()
    D = parts.discriminator
    frozen = D.net[0].weight.requires_grad_(False)
    before = frozen.detach().clone()
    step = TrainStep(parts, get_registry().preset("vanilla-mnist"))
    for _ in range(2):
        step(torch.rand(8, 1, 28, 28) * 2 - 1)
    assert not frozen.requires_grad and torch.equal(frozen, before)
    assert all(p.requires_grad for p in D.parameters() if p is not frozen)


def test_baseline_is_the_tutorial_code():
    """ganzoo.baseline over vanilla-mnist's parts == the seed's code, step for step."""
    from tutorial_seed import Tutorial

    parts = vanilla_parts()
    tutorial = Tutorial(dataset=[(torch.zeros(1, 28, 28), 0)])
    tutorial.gen.gen.load_state_dict(parts.generator.net.state_dict())
    tutorial.disc.disc.load_state_dict(parts.discriminator.net.state_dict(), strict=False)
    ours = TutorialStep(parts.generator, parts.discriminator, parts.loss, 3e-4, 3e-4,
                        (0.9, 0.999))
    for i in range(3):
        real = torch.rand(16, 1, 28, 28) * 2 - 1
        torch.manual_seed(10 + i)
        theirs_d, theirs_g = tutorial.step(real)
        torch.manual_seed(10 + i)
        ours_d, ours_g = ours(real)
        torch.testing.assert_close(ours_d, theirs_d.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ours_g, theirs_g.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(parts.generator.net[4].weight, tutorial.gen.gen[4].weight,
                               rtol=1e-4, atol=1e-6)


def test_bf16_trains_without_nan(mnist_root, tmp_path):
    result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--precision", "bf16",
                     "--out", tmp_path / "run", "--epochs", "2", "--quiet",
                     "--set", "batch_size=32", "--set", "generator.hidden=[32,32]",
                     "--set", "discriminator.hidden=[32,16]")
    assert result.exit_code == 0, result.output
    import json

    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    assert all(torch.isfinite(torch.tensor([r["loss_d"], r["loss_g"]])).all() for r in rows)
    from ganzoo.evaluation.sampling import load_generator

    G, _, _ = load_generator(tmp_path / "run")
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in G.parameters())


def test_bench_prints_a_table_and_json(mnist_root):
    import json

    args = ("bench", "vanilla-mnist", "--data-dir", mnist_root, "--batch-size", "16,32",
            "--seconds", "0.1", "--set", "generator.hidden=[32,32]")
    table = run_cli(*args)
    assert table.exit_code == 0, table.output
    assert "x tutorial" in table.output and "ganzoo" in table.output
    report = json.loads(run_cli(*args, "--json").output)
    rows = report["results"]
    assert [(r["impl"], r["batch_size"]) for r in rows] == [
        ("tutorial", 16), ("ganzoo", 16), ("tutorial", 32), ("ganzoo", 32)]
    for row in rows:
        assert row["samples_per_s"] > 0 and row["flops_per_step"] > 0
        assert 0 < row["fraction_of_peak"] < 5
    # the tutorial does strictly more arithmetic per step (retain_graph, backward through G)
    assert rows[0]["flops_per_step"] > rows[1]["flops_per_step"]


def test_bench_times_a_batch_larger_than_the_dataset_on_it_repeated(mnist_root):
    import json

    args = ("bench", "vanilla-mnist", "--data-dir", mnist_root, "--batch-size", "600",
            "--seconds", "0.1", "--set", "generator.hidden=[32,32]")
    table = run_cli(*args)
    assert table.exit_code == 0, table.output
    assert "needs 600 images a step, the dataset has 256" in table.output
    rows = json.loads(run_cli(*args, "--json").output)["results"]
    assert [(r["impl"], r["batch_size"]) for r in rows] == [("tutorial", 600), ("ganzoo", 600)]
    assert all(r["steps"] > 0 and r["samples_per_s"] > 0 for r in rows)


def test_bench_rejects_bad_lists(mnist_root):
    from helpers import assert_clean_error

    assert_clean_error(run_cli("bench", "vanilla-mnist", "--batch-size", "64,x"),
                       "comma-separated integers")
    assert_clean_error(run_cli("bench", "vanilla-mnist", "--precision", "fp16"),
                       "choose from fp32, bf16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_step_matches_eager_on_gpu():
    from ganzoo.engine.step import CudaGraphStep

    def make():
        return TrainStep(vanilla_parts().to("cuda"), get_registry().preset("vanilla-mnist"),
                         capturable=True)

    eager, graphed = make(), make()
    run = CudaGraphStep(graphed, warmup=2)
    gen = torch.Generator(device="cuda").manual_seed(0)
    labels = torch.zeros(64, dtype=torch.long, device="cuda")
    for _ in range(8):  # warm-up, capture and replays
        real = torch.rand(64, 1, 28, 28, device="cuda", generator=gen) * 2 - 1
        noise = torch.randn(64, 64, device="cuda", generator=gen)
        want, got = eager(real, labels, noise), run(real, labels, noise)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert run.graph is not None and not run.eager
    for p, q in zip(eager.generator.parameters(), graphed.generator.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("preset,sets", [("cgan-mnist", {}), ("wgan-gp-mnist", {"n_critic": 2}),
                                         ("dcgan-mnist", {"ema": 0.9}),
                                         ("wgan-mnist", {"n_critic": 2}), ("ragan-mnist", {}),
                                         ("acgan-mnist", {}), ("dcgan-diffaugment-mnist", {}),
                                         ("infogan-mnist", {}), ("began-mnist", {}),
                                         ("ebgan-mnist", {}), ("sgan-mnist", {})])
def test_cuda_graph_step_captures_labels_critic_updates_penalty_and_ema(preset, sets):
    """Conditioning, several D updates, a gradient penalty (double backward), the EMA, and
    the objectives' paths (real logits in G's loss, clipping after D's update with RMSprop,
    a structured D output, an augment's random draws, an objective's own network and its
    state updated in place) replay as one graph and match eager training."""
    from ganzoo.engine.step import CudaGraphStep

    resolved = apply_overrides(get_registry().preset(preset), {"batch_size": 16, **sets})

    def make():
        torch.manual_seed(0)
        return TrainStep(build(resolved).to("cuda"), resolved, capturable=True)

    eager, graphed = make(), make()
    run = CudaGraphStep(graphed, warmup=2)
    n = 16 * resolved.train.n_critic
    gen = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(6):
        real = torch.rand(n, 1, 28, 28, device="cuda", generator=gen) * 2 - 1
        labels = torch.randint(0, 10, (n,), device="cuda", generator=gen)
        noise = torch.randn(n, eager.generator.z_dim, device="cuda", generator=gen)
        # penalties and augments draw from the global RNG: the same state for both
        state = torch.cuda.get_rng_state()
        want = eager(real, labels, noise)
        torch.cuda.set_rng_state(state)
        got = run(real, labels, noise)
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)
    assert run.graph is not None and not run.eager
    shown = [s.generator if s.ema is None else s.ema for s in (eager, graphed)]
    for p, q in zip(shown[0].parameters(), shown[1].parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-4)
    for name, value in eager.state.items():
        torch.testing.assert_close(graphed.state[name], value, rtol=1e-3, atol=1e-6)
    assert graphed.updates == eager.updates == 6


def test_a_lazy_term_due_at_every_update_says_cuda_graphs_cannot_replay_a_step():
    """R3GAN's penalties every update: a step without a due term never comes, so the graph
    would never replay; the engine says so once (on any device: nothing is captured yet)."""
    import warnings

    from ganzoo.engine.step import CudaGraphStep

    said = {}
    for every in (1, 4):
        preset = apply_overrides(get_registry().preset("dcgan-mnist"),
                                 {"loss": "r3gan", "loss.every": every})
        step = TrainStep(build(preset), preset)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            CudaGraphStep(step)
        said[every] = [str(w.message) for w in caught]
    assert len(said[1]) == 1 and "penalty is due at every update" in said[1][0]
    assert said[4] == []
