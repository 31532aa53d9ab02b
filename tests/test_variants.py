"""The variants beyond (real logits, fake logits): objectives checked against hand-computed
values, the optimizers as components, and every variant preset resuming bitwise."""

import math
import types

import pytest
import torch
import torch.nn.functional as F
from ganzoo_classic.losses import DRAGAN, BoundarySeeking, WassersteinDiv
from ganzoo_classic.objectives import WGAN, AuxiliaryClassifier, RelativisticAverage, SoftmaxGAN
from helpers import assert_clean_error, make_mnist_root, run_cli
from safetensors.torch import load_file
from test_zoo import QUICK, VARIANTS

import ganzoo

REAL = torch.tensor([1.0, 2.0])
FAKE = torch.tensor([0.0, -1.0])


def ctx(real=REAL, fake=FAKE, **fields):
    """What an objective reads of a step: D's outputs on a real and a fake batch."""
    split = {k: v for k, v in fields.items() if k.endswith("_class_logits")}
    return types.SimpleNamespace(
        real_out=ganzoo.DOutput(real, class_logits=split.get("real_class_logits")),
        fake_out=ganzoo.DOutput(fake, class_logits=split.get("fake_class_logits")),
        labels=fields.get("labels"))


def log_sigmoid(x):
    return math.log(1 / (1 + math.exp(-x)))


def test_relativistic_average_by_hand():
    # E C(x) = 1.5, E C(x~) = -0.5: D sees real - (-0.5) = [1.5, 2.5], fake - 1.5 = [-1.5, -2.5]
    d = -(log_sigmoid(1.5) + log_sigmoid(2.5)) / 2 - (log_sigmoid(1.5) + log_sigmoid(2.5)) / 2
    g = -(log_sigmoid(-1.5) + log_sigmoid(-2.5)) / 2 - (log_sigmoid(-1.5) + log_sigmoid(-2.5)) / 2
    objective = RelativisticAverage()
    assert objective.d_loss(ctx()).item() == pytest.approx(d, rel=1e-6)
    assert objective.g_loss(ctx()).item() == pytest.approx(g, rel=1e-6)


def test_relativistic_g_loss_sends_no_gradient_through_the_real_logits():
    real = REAL.clone().requires_grad_(True)
    fake = FAKE.clone().requires_grad_(True)
    RelativisticAverage().g_loss(ctx(real, fake)).backward()
    assert real.grad is None and fake.grad.abs().sum() > 0


def test_softmax_gan_by_hand():
    z = sum(math.exp(-c) for c in [1.0, 2.0, 0.0, -1.0])
    objective = SoftmaxGAN()
    assert objective.d_loss(ctx()).item() == pytest.approx(1.5 + math.log(z), rel=1e-6)
    assert objective.g_loss(ctx()).item() == pytest.approx(0.5 + math.log(z), rel=1e-6)


def test_acgan_class_loss_by_hand():
    labels = torch.tensor([0, 1])
    real_classes = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    fake_classes = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    c = ctx(labels=labels, real_class_logits=real_classes, fake_class_logits=fake_classes)

    def ce(logits, label):
        return -logits[label] + math.log(sum(math.exp(v) for v in logits))

    real_ce = (ce([2.0, 0.0], 0) + ce([0.0, 1.0], 1)) / 2
    fake_ce = (ce([0.0, 0.0], 0) + ce([3.0, 0.0], 1)) / 2
    source_d = ((-log_sigmoid(1.0) - log_sigmoid(2.0)) / 2  # softplus(-C(x)) on the real
                + (-log_sigmoid(-0.0) - log_sigmoid(1.0)) / 2)  # softplus(C(x~)) on the fakes
    source_g = (-log_sigmoid(0.0) - log_sigmoid(-1.0)) / 2
    objective = AuxiliaryClassifier()
    assert objective.d_loss(c).item() == pytest.approx(source_d + real_ce + fake_ce, rel=1e-6)
    assert objective.g_loss(c).item() == pytest.approx(source_g + fake_ce, rel=1e-6)


def test_boundary_seeking_g_loss_by_hand():
    assert BoundarySeeking().generator_loss(FAKE).item() == pytest.approx((0 + 1) / 2 / 2)


def test_wgan_clips_every_discriminator_weight_after_its_update():
    D = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    with torch.no_grad():
        D[0].weight.fill_(0.5)
        D[1].bias.fill_(-0.3)
        D[0].bias.fill_(0.004)
    objective = WGAN(clip=0.01)
    assert objective.d_loss(ctx()).item() == pytest.approx(-0.5 - 1.5)
    objective.after_d_update(D)
    assert torch.all(D[0].weight == 0.01) and torch.all(D[1].bias == -0.01)
    assert torch.all(D[0].bias == 0.004)  # inside the box: untouched


def test_wgan_div_penalty_by_hand():
    """critic(x) = sum(w * x): its input gradient is w everywhere, so the penalty is
    k |w|^p whatever the points."""
    w = torch.tensor([3.0, 4.0])  # |w| = 5
    loss = WassersteinDiv(k=2, p=6)
    penalty = loss.discriminator_regularizer(lambda x: (x * w).sum(1), torch.zeros(4, 2),
                                             torch.ones(4, 2))
    assert penalty.item() == pytest.approx(2 * 5**6)


def test_dragan_penalises_points_near_the_real_data():
    seen = []

    def critic(x):
        seen.append(x.detach())
        return (x * 2.0).sum((1, 2, 3))

    real = torch.rand(8, 1, 4, 4)
    penalty = DRAGAN(weight=10).discriminator_regularizer(critic, real, -torch.ones_like(real))
    assert penalty.item() == pytest.approx(10 * (2 * 4 - 1) ** 2)  # |grad| = 2 * sqrt(16)
    spread = (seen[0] - real).abs().max().item()
    assert 0 < spread <= 0.5 * real.std().item() + 1e-6  # perturbed real, never the fakes


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    return make_mnist_root(tmp_path_factory.mktemp("variants") / "data")


@pytest.mark.parametrize("preset", VARIANTS)
def test_variant_resumes_bitwise(preset, small_data, tmp_path):
    """Two epochs straight and one, a stop, one more give the same weights, optimizer state
    (RMSprop's included) and RNG."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    for out, epochs in ((straight, "2"), (split, "1"), (split, "2")):
        resume = ("--resume", out) if out == split and epochs == "2" else ("--out", out)
        result = run_cli("train", preset, "--data-dir", small_data, *resume, "--epochs", epochs,
                         *QUICK)
        assert result.exit_code == 0, result.output
    a = load_file(straight / "checkpoints" / "epoch-0002.safetensors")
    b = load_file(split / "checkpoints" / "epoch-0002.safetensors")
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


def test_wgan_mnist_clips_and_uses_rmsprop(small_data, tmp_path):
    run = ganzoo.train("wgan-mnist", out=tmp_path / "run", data_dir=small_data, epochs=1,
                       batch_size=32, quiet=True)
    saved = load_file(run.checkpoints[-1])
    weights = [v for k, v in saved.items() if k.startswith("discriminator.")
               and v.is_floating_point() and "running" not in k]
    assert max(w.abs().max().item() for w in weights) <= 0.01 + 1e-9
    assert any(k.startswith("opt_d.") and k.endswith(".square_avg") for k in saved)


def test_optimizers_are_components_chosen_per_network(small_data, tmp_path):
    run = ganzoo.train("vanilla-mnist", out=tmp_path / "run", data_dir=small_data, epochs=1,
                       batch_size=32, quiet=True, optimizer_d={"name": "sgd",
                                                               "kwargs": {"momentum": 0.0}})
    assert run.preset.optimizer_d.name == "sgd" and run.preset.optimizer_g is None  # fused Adam
    saved = load_file(run.checkpoints[-1])
    assert not any(k.startswith("opt_d.") for k in saved)  # plain SGD keeps no state
    assert any(k.startswith("opt_g.") and k.endswith("exp_avg") for k in saved)
    resumed = ganzoo.train("vanilla-mnist", resume=run.root, data_dir=small_data, epochs=2,
                           quiet=True)
    assert [r["epoch"] for r in resumed.history] == [0, 1]
    assert_clean_error(run_cli("train", "vanilla-mnist", "--set", "optimizer_g=adamw"),
                       "unknown optimizer 'adamw'")
    assert_clean_error(run_cli("train", "vanilla-mnist", "--data-dir", small_data, "--set",
                               "optimizer_d=rmsprop", "--set", "optimizer_d.speed=3"),
                       "optimizer 'rmsprop'", "rejected its settings")


class FeatureMatching(ganzoo.Objective):
    """A variant no preset uses, written against the public API alone: D returns its
    features in a DOutput, and G matches the mean features of the real batch (Salimans et
    al. 2016) while D keeps the non-saturating loss."""

    def d_loss(self, ctx):
        return F.softplus(-ctx.real_out.logits).mean() + F.softplus(ctx.fake_out.logits).mean()

    def g_loss(self, ctx):
        real = ctx.real_out.features.mean(0)
        return (ctx.fake_out.features.mean(0) - real.detach()).square().sum()


class FeatureD(ganzoo.Discriminator):
    def __init__(self, in_shape=(1, 28, 28)):
        super().__init__(in_shape)
        self.body = torch.nn.Sequential(torch.nn.Flatten(), *ganzoo.mlp_layers([784, 32, 16]),
                                        torch.nn.LeakyReLU(0.2))
        self.head = torch.nn.Linear(16, 1)

    def forward(self, x, labels=None):
        h = self.body(x)
        return ganzoo.DOutput(self.head(h).view(-1), features=h)


def test_a_plugin_variant_with_a_structured_d_output_trains_and_resumes(small_data, tmp_path):
    hooks = types.SimpleNamespace(
        ganzoo_register_losses=ganzoo.hookimpl(
            lambda register: register("feature-matching", FeatureMatching)),
        ganzoo_register_discriminators=ganzoo.hookimpl(
            lambda register: register("feature-mlp", FeatureD)))
    toml = tmp_path / "fm.toml"
    toml.write_text('name = "fm"\n'
                    'generator = { name = "mlp", kwargs = { z_dim = 8, hidden = [32] } }\n'
                    'discriminator = { name = "feature-mlp" }\n'
                    'loss = { name = "feature-matching" }\n'
                    'dataset = { name = "mnist" }\n'
                    '[train]\nbatch_size = 32\nepochs = 2\n')
    with ganzoo.in_process_plugin(hooks, "fm"):
        straight = ganzoo.train(toml, out=tmp_path / "a", data_dir=small_data, quiet=True)
        ganzoo.train(toml, out=tmp_path / "b", data_dir=small_data, quiet=True, epochs=1)
        split = ganzoo.train(toml, resume=tmp_path / "b", data_dir=small_data, quiet=True,
                             epochs=2)
        a, b = (load_file(r.checkpoints[-1]) for r in (straight, split))
        assert [k for k in a if not torch.equal(a[k], b[k])] == []
        assert split.sample(4, seed=0).shape == (4, 1, 28, 28)
        bad = types.SimpleNamespace(ganzoo_register_discriminators=ganzoo.hookimpl(
            lambda register: register("bad-d", lambda **kw: BadD())))
    with ganzoo.in_process_plugin(bad, "bad"):
        result = run_cli("train", "vanilla-mnist", "--set", "discriminator=bad-d")
        assert_clean_error(result, "returned logits (2, 3)", "expected (2,)")


class BadD(ganzoo.Discriminator):
    def __init__(self):
        super().__init__((1, 28, 28))

    def forward(self, x, labels=None):
        return ganzoo.DOutput(torch.zeros(x.shape[0], 3))


def test_naming_adam_trains_what_naming_no_optimizer_does(small_data, tmp_path):
    runs = [ganzoo.train("vanilla-mnist", out=tmp_path / name, data_dir=small_data, epochs=1,
                         batch_size=32, quiet=True, **extra)
            for name, extra in (("default", {}),
                                ("named", {"optimizer_g": "adam", "optimizer_d": "adam"}))]
    a, b = (load_file(r.checkpoints[-1]) for r in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
