"""The variants beyond (real logits, fake logits): objectives checked against hand-computed
values, the optimizers as components, and every variant preset resuming bitwise."""

import math
import types

import pytest
import torch
import torch.nn.functional as F
from ganzoo_classic.losses import DRAGAN, BoundarySeeking, WassersteinDiv
from ganzoo_classic.models import AutoencoderDiscriminator, DCGANDiscriminator, InfoGANGenerator
from ganzoo_classic.objectives import (
    BEGAN,
    EBGAN,
    WGAN,
    AuxiliaryClassifier,
    ClusterGAN,
    InfoGAN,
    RelativisticAverage,
    SemiSupervised,
    SoftmaxGAN,
    pull_away,
)
from helpers import assert_clean_error, make_mnist_root, run_cli
from PIL import Image
from safetensors.torch import load_file

import ganzoo
from ganzoo.evaluation.sampling import vary

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
    objective.after_d_update(types.SimpleNamespace(discriminator=D))
    assert torch.all(D[0].weight == 0.01) and torch.all(D[1].bias == -0.01)
    assert torch.all(D[0].bias == 0.004)  # inside the box: untouched


def energies(real, fake, **extra):
    """A context whose D outputs are an autoencoder's: logits are minus the energies."""
    return types.SimpleNamespace(real_out=ganzoo.DOutput(-torch.tensor(real)),
                                 fake_out=ganzoo.DOutput(-torch.tensor(fake), **extra),
                                 state={})


def test_began_losses_k_update_and_convergence_by_hand():
    objective = BEGAN(gamma=0.5, lambda_k=0.1, k0=0.2)
    c = energies([0.4, 0.8], [0.1, 0.3])  # L(x) = 0.6, L(x~) = 0.2
    c.state = {k: v.clone() for k, v in objective.initial_state(None, None).items()}
    assert objective.d_loss(c).item() == pytest.approx(0.6 - 0.2 * 0.2)
    assert objective.g_loss(c).item() == pytest.approx(0.2)
    objective.after_d_update(c)  # balance = 0.5 * 0.6 - 0.2 = 0.1
    assert c.state["k"].item() == pytest.approx(0.2 + 0.1 * 0.1)
    assert c.state["convergence"].item() == pytest.approx(0.6 + 0.1)
    far = energies([0.1], [5.0])  # balance -4.95: k would go below 0
    far.state = c.state
    objective.after_d_update(far)
    assert c.state["k"].item() == 0.0
    assert c.state["k"].device == c.state["convergence"].device  # tensors, updated in place


def test_ebgan_hinge_and_pull_away_term_by_hand():
    # unit embeddings [1, 0], [0, 1], [1, 1]/sqrt 2: squared cosines 0, 1/2, 1/2 per pair
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    assert pull_away(s).item() == pytest.approx(2 * (0 + 0.5 + 0.5) / (3 * 2))
    c = energies([0.2, 0.4], [0.5, 1.5], features=s[:2])
    objective = EBGAN(margin=1.0, pt_weight=0.1)
    assert objective.d_loss(c).item() == pytest.approx(0.3 + (0.5 + 0.0) / 2)
    assert objective.g_loss(c).item() == pytest.approx(1.0 + 0.1 * 0.0)  # orthogonal pair


def test_infogan_information_term_by_hand():
    G = InfoGANGenerator(z_dim=3, categorical=2, continuous=1, base=8)
    D = DCGANDiscriminator(base=8, return_features=True)
    objective = InfoGAN(cat_weight=1.0, cont_weight=0.5)
    nets = objective.networks(G, D)
    assert nets["q"].side == "d" and nets["q"].module[-1].out_features == 3
    codes = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, -1.0]])  # c1 = 0, 1; c2 = 0.5, -1
    predicted = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    ce = (math.log(1 + math.exp(-2.0)) + math.log(2.0)) / 2
    gauss = ((0.5 - 0.0) ** 2 + (-1.0 - 1.0) ** 2) / 2 / 2  # mean over rows of (c - mu)^2 / 2
    assert objective.information_loss(predicted, codes).item() == pytest.approx(ce + 0.5 * gauss)
    noise = G.sample_noise(500)
    assert noise.shape == (500, 6) and torch.all(noise[:, 3:5].sum(1) == 1)  # one-hot c1
    assert noise[:, 5].abs().max() <= 1 and noise[:, 5].std() > 0.5  # U(-1, 1)
    swept = G.with_code(noise[:2], "c2", torch.tensor([7.0, 8.0]))
    assert swept[:, 5].tolist() == [7.0, 8.0] and torch.equal(swept[:, :5], noise[:2, :5])
    assert G.with_code(noise[:2], "c1", torch.tensor([1, 1]))[:, 3:5].tolist() == [[0, 1]] * 2


def test_semi_supervised_split_uses_only_the_labelled_images():
    labels = torch.tensor([0, ganzoo.UNLABELED, 1])
    classes = torch.tensor([[2.0, 0.0], [-9.0, 9.0], [0.0, 1.0]], requires_grad=True)
    logits = torch.logsumexp(classes, 1)  # the logits_from_classes D
    fake = torch.tensor([[0.0, 0.0]])
    c = types.SimpleNamespace(real_out=ganzoo.DOutput(logits, class_logits=classes),
                              fake_out=ganzoo.DOutput(torch.logsumexp(fake, 1)), labels=labels)
    unsupervised = (sum(math.log(1 + math.exp(-v)) for v in logits.tolist()) / 3
                    + math.log(1 + 2.0))  # Z(x~) = 2: -log(1 / (Z + 1))
    supervised = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0))) / 2
    loss = SemiSupervised().d_loss(c)
    assert loss.item() == pytest.approx(unsupervised + supervised, rel=1e-6)
    only_supervised = F.cross_entropy(classes, labels.clamp(min=0), reduction="none")
    assert only_supervised[1] > 10  # the unlabelled row would dominate if it were counted
    none = types.SimpleNamespace(**{**vars(c), "labels": torch.full((3,), ganzoo.UNLABELED)})
    assert SemiSupervised().d_loss(none).item() == pytest.approx(unsupervised, rel=1e-6)


def test_autoencoder_discriminator_energy_and_outputs():
    D = AutoencoderDiscriminator(base=8, embed_dim=5, energy="l1")
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    out = D(x)
    assert out.features.shape == (3, 5)
    rebuilt = D.decode(D.project(out.features).view(3, *D.start))
    expected = (rebuilt - x).abs().flatten(1).mean(1)
    torch.testing.assert_close(out.logits, -expected)


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
    features in a DOutput; D keeps the non-saturating loss while G matches a running mean
    of the real batches' features (Salimans et al. 2016, with a historical average), state
    that persists from step to step on the device."""

    decay = 0.9

    def initial_state(self, generator, discriminator):
        return {"real_mean": torch.zeros(discriminator.width), "updates": torch.tensor(0)}

    def d_loss(self, ctx):
        return F.softplus(-ctx.real_out.logits).mean() + F.softplus(ctx.fake_out.logits).mean()

    @torch.no_grad()
    def after_d_update(self, ctx):
        ctx.state["real_mean"].lerp_(ctx.real_out.features.mean(0), 1 - self.decay)
        ctx.state["updates"].add_(1)

    def g_loss(self, ctx):
        return (ctx.fake_out.features.mean(0) - ctx.state["real_mean"]).square().sum()


class FeatureD(ganzoo.Discriminator):
    width = 16

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
        assert a["objective_state.updates"].item() == 2 * 8  # 256 images / 32, two epochs
        assert a["objective_state.real_mean"].abs().sum() > 0
        assert [r["state_updates"] for r in split.history] == [8, 16]
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


def test_infogan_grids_vary_one_code_and_hold_another(small_data, tmp_path):
    run = ganzoo.train("infogan-mnist", out=tmp_path / "run", data_dir=small_data, epochs=1,
                       batch_size=32, quiet=True)
    assert run.vary("c1", rows=2).shape == (20, 1, 28, 28)  # as the CLI's grid, below
    G = ganzoo.load(run.root).generator()
    G.forward = lambda z, labels=None: z  # show the noise each image was drawn from
    noise, columns = vary(G, "c2", rows=3, seed=0, hold={"c1": 4})
    assert columns == 10 and noise.shape == (30, 62 + 10 + 2)
    grid = noise.view(3, 10, -1)
    assert torch.all(grid[:, :, 62 + 4] == 1)  # c1 held at 4 everywhere
    torch.testing.assert_close(grid[:, :, 72], torch.linspace(-2, 2, 10).expand(3, 10))
    assert torch.all(grid[:, :1, :62] == grid[:, :, :62])  # z fixed along a row
    assert not torch.equal(grid[0, 0, :62], grid[1, 0, :62])  # and drawn anew for each row
    out = tmp_path / "digits.png"
    result = run_cli("sample", run.root, "--vary", "c1", "-n", "20", "-o", out)
    assert result.exit_code == 0 and "wrote 20 samples" in result.output, result.output
    assert Image.open(out).size[0] > 4 * Image.open(out).size[1]  # 2 rows of 10
    assert_clean_error(run_cli("sample", run.root, "--vary", "c7"), "no latent code 'c7'",
                       "c1, c2, c3")
    assert_clean_error(run_cli("sample", run.root, "--vary", "c2", "--hold", "c1=12"),
                       "0 to 9")
    assert_clean_error(run_cli("sample", run.root, "--hold", "c1=2"), "--vary")


def test_code_accuracy_matches_each_code_value_to_its_class():
    """A generator whose code value v always draws digit (v + 3) mod 10 scores 100%, with
    the matching found; one that ignores its code scores a tenth."""
    from ganzoo.evaluation.structure import code_accuracy

    G = InfoGANGenerator(z_dim=2, categorical=10, continuous=0, base=4)
    scorer = types.SimpleNamespace(device=torch.device("cpu"),
                                   evaluator=lambda images: F.one_hot(images[:, 0].long(), 10))
    scorer.evaluator.num_classes = 10
    G.forward = lambda z, labels=None: ((z[:, 2:].argmax(1) + 3) % 10).float()[:, None]
    accuracy, classes = code_accuracy(scorer, G, n=200)
    assert accuracy == 1.0 and classes == [(v + 3) % 10 for v in range(10)]
    G.forward = lambda z, labels=None: torch.zeros(z.shape[0], 1)
    assert code_accuracy(scorer, G, n=200)[0] == pytest.approx(0.1)


def test_eval_reports_the_code_and_the_discriminator_accuracy(small_data, tmp_path,
                                                              cheap_evaluator):
    for preset, extra in (("infogan-mnist", {}),
                          ("sgan-mnist", {"dataset": {"name": "mnist",
                                                      "kwargs": {"labeled_per_class": 5}}})):
        ganzoo.train(preset, out=tmp_path / preset, data_dir=small_data, epochs=1,
                     batch_size=32, quiet=True, **extra)
    info = ganzoo.evaluate(tmp_path / "infogan-mnist", n=200, data_dir=small_data,
                           floor=False)
    assert 0.1 <= info.code_accuracy <= 1 and sorted(info.code_classes) == list(range(10))
    assert info.d_accuracy is None  # its D predicts no classes
    result = run_cli("eval", tmp_path / "sgan-mnist", "-n", 200, "--data-dir", small_data,
                     "--no-floor")
    assert result.exit_code == 0, result.output
    assert "the discriminator classifies the test split with accuracy" in result.output
    report = ganzoo.evaluate(tmp_path / "sgan-mnist", n=200, data_dir=small_data, floor=False)
    assert 0 <= report.d_accuracy <= 1 and "d_accuracy" in report.to_dict()
    assert report.code_accuracy is None


class BadNetworks(FeatureMatching):
    def networks(self, generator, discriminator):
        return {"q": torch.nn.Linear(2, 2)}  # no side: neither G's nor D's optimiser

    def initial_state(self, generator, discriminator):
        return {}


class BadState(FeatureMatching):
    def initial_state(self, generator, discriminator):
        return {"k": 0.5}  # a Python number would force a host sync each step


@pytest.mark.parametrize("objective,message", [(BadNetworks, "declared network 'q'"),
                                               (BadState, "declared state 'k' as a float")])
def test_a_wrong_network_or_state_declaration_is_one_clear_error(objective, message):
    hooks = types.SimpleNamespace(ganzoo_register_losses=ganzoo.hookimpl(
        lambda register: register("bad-objective", objective)))
    with ganzoo.in_process_plugin(hooks, "bad"):
        result = run_cli("train", "vanilla-mnist", "--set", "loss=bad-objective")
    assert_clean_error(result, "loss 'bad-objective'", message)


def test_learning_rate_schedules_by_hand():
    from ganzoo_classic.schedules import CosineDecay, LinearDecay, StepDecay, Warmup

    assert [LinearDecay(start=2).factor(e, 6) for e in range(6)] == [1, 1, 1, 0.75, 0.5, 0.25]
    assert [StepDecay(every=2, gamma=0.1).factor(e, 5) for e in range(5)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01])
    assert [CosineDecay(end=0.2).factor(e, 3) for e in range(3)] == pytest.approx([1, 0.6, 0.2])
    warmup = Warmup(steps=4, start=0.2)  # by step: t is the steps done of the run's total
    assert warmup.unit == "step" and [warmup.factor(t, 100) for t in range(6)] == pytest.approx(
        [0.2, 0.4, 0.6, 0.8, 1, 1])


def test_a_scheduled_run_sets_each_epochs_rates_and_resumes_bitwise(small_data, tmp_path):
    sets = {"batch_size": 32, "schedule_g": "linear-decay", "schedule_d": {"name": "step-decay",
                                                                      "kwargs": {"every": 1}}}
    straight = ganzoo.train("vanilla-mnist", out=tmp_path / "a", data_dir=small_data, epochs=3,
                            quiet=True, **sets)
    assert [r["lr_g"] for r in straight.history] == pytest.approx([3e-4, 2e-4, 1e-4])
    assert [r["lr_d"] for r in straight.history] == pytest.approx([3e-4, 1.5e-4, 7.5e-5])
    ganzoo.train("vanilla-mnist", out=tmp_path / "b", data_dir=small_data, epochs=1,
                 quiet=True, **sets)
    split = ganzoo.train("vanilla-mnist", resume=tmp_path / "b", data_dir=small_data, epochs=3,
                         quiet=True)
    a, b = (load_file(r.checkpoints[-1]) for r in (straight, split))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert [r["lr_g"] for r in split.history] == [r["lr_g"] for r in straight.history]


class NegativeSchedule(ganzoo.Schedule):
    def factor(self, epoch, epochs):
        return -1.0


def test_a_schedule_with_a_negative_factor_is_one_clear_error(small_data):
    hooks = types.SimpleNamespace(ganzoo_register_schedules=ganzoo.hookimpl(
        lambda register: register("negative", NegativeSchedule)))
    with ganzoo.in_process_plugin(hooks, "neg"):
        result = run_cli("train", "vanilla-mnist", "--data-dir", small_data, "--set",
                         "schedule_g=negative", "--quiet")
    assert_clean_error(result, "schedule of G", "NegativeSchedule", "factor -1.0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_schedule_recaptures_the_cuda_graph_at_each_new_rate(small_data, tmp_path):
    """A captured graph holds the rate it was captured with: each epoch's new rate must
    reach it, so graphed and eager training agree."""
    runs = [ganzoo.train("vanilla-mnist", out=tmp_path / str(graphs), data_dir=small_data,
                         epochs=3, batch_size=32, device="cuda", cuda_graphs=graphs,
                         quiet=True, schedule_g={"name": "step-decay", "kwargs": {"every": 1,
                                                                             "gamma": 0.0}})
            for graphs in (True, False)]
    a, b = (load_file(r.checkpoints[-1]) for r in runs)
    for key in [k for k in a if k.startswith("generator.")]:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-4)


def test_clustergan_inverts_g_by_hand():
    """G's loss adds beta_n * MSE(E_n, z_n) + beta_c * CE(E_c, z_c) of the encoder on G's
    images; its clusters are E_c's argmax."""
    G = InfoGANGenerator(z_dim=2, categorical=3, continuous=0, sigma=0.1, base=8)
    objective = ClusterGAN(beta_n=2.0, beta_c=3.0, base=8)
    encoder = objective.networks(G, DCGANDiscriminator(base=8))["encoder"].module
    assert encoder(torch.zeros(4, 1, 28, 28)).shape == (4, 2 + 3)
    noise = torch.tensor([[0.1, -0.2, 0.0, 1.0, 0.0], [0.0, 0.3, 1.0, 0.0, 0.0]])
    code = torch.tensor([[0.0, 0.0, 2.0, 0.0, 0.0], [0.1, 0.3, 0.0, 1.0, 0.0]])
    fake_out = ganzoo.DOutput(torch.tensor([0.5, -0.5]))
    ctx = types.SimpleNamespace(fake=torch.zeros(2, 1, 28, 28), noise=noise,
                                fake_out=fake_out, nets={"encoder": lambda x: code})
    mse = ((0.1 ** 2 + 0.2 ** 2) + 0.1 ** 2) / 4
    ce = F.cross_entropy(code[:, 2:], torch.tensor([1, 0])).item()
    expected = ganzoo.non_saturating_g(fake_out.logits).item() + 2.0 * mse + 3.0 * ce
    assert objective.g_loss(ctx).item() == pytest.approx(expected, rel=1e-6)
    assert objective.clusters({"encoder": lambda x: code}, None).tolist() == [0, 1]
    assert (G.sample_noise(1000)[:, :2].std() - 0.1).abs() < 0.01
    with pytest.raises(ValueError, match="no continuous ones"):
        ClusterGAN().networks(InfoGANGenerator(continuous=2), DCGANDiscriminator())


class StrokeClusters(InfoGAN):
    """InfoGAN, whose networks make a checkpoint, clustering the test digits by the column
    of their stroke (exactly their label on the tests' fake digits) or all into one."""

    def __init__(self, constant: bool = False) -> None:
        super().__init__()
        self.constant = constant

    def clusters(self, networks, images):
        first = (images[:, 0, 4:24].mean(1) > 0.9).float().argmax(1)  # column 2 + 2 * label
        return first * 0 if self.constant else (first - 2) // 2


@pytest.mark.parametrize("constant", [False, True])
def test_cluster_purity_counts_each_clusters_most_common_class(small_data, tmp_path, constant):
    from ganzoo.evaluation.structure import cluster_purity

    hooks = types.SimpleNamespace(ganzoo_register_losses=ganzoo.hookimpl(
        lambda register: register("strokes", StrokeClusters)))
    with ganzoo.in_process_plugin(hooks, "strokes"):
        run = ganzoo.train("infogan-mnist", out=tmp_path / "run", data_dir=small_data,
                           epochs=1, batch_size=32, quiet=True,
                           loss={"name": "strokes", "kwargs": {"constant": constant}})
        from ganzoo.core.build import build_component

        mnist = build_component("dataset", run.preset.dataset)
        labels = mnist.load("test", small_data)[1]
        purity = cluster_purity(run.root, mnist, small_data, torch.device("cpu"))
    expected = labels.bincount().max().item() / len(labels) if constant else 1.0
    assert purity == pytest.approx(expected)


class LinearCritic(ganzoo.Discriminator):
    """C(x) = w . x: its gradient is w everywhere, so R1 = R2 = |w|^2 per image."""

    def __init__(self):
        super().__init__((1, 2, 2))
        self.w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0]))

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w


def test_r3gan_pairs_real_and_fake_and_penalises_both_gradients_by_hand():
    from ganzoo_classic.objectives import RelativisticPairing

    from ganzoo.core.context import Batch, Models, StepContext, Updates

    D = LinearCritic()
    real, fake = torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2)
    c_real, c_fake = real.flatten(1) @ D.w, fake.flatten(1) @ D.w
    square = D.w.square().sum()
    for every, d_updates, penalised in ((1, 0, True), (4, 1, False), (4, 8, True)):
        objective = RelativisticPairing(gamma=0.5, every=every)
        ctx = StepContext("d", Batch(real, None, torch.zeros(3, 1), fake), Models(D, D),
                          updates=Updates(0, d_updates, objective.lazy))
        expected = F.softplus(-(c_real - c_fake)).mean()
        if penalised:  # gamma / 2 (R1 + R2), weighted by every when lazy
            expected = expected + every * 0.5 / 2 * 2 * square
        assert objective.d_loss(ctx).item() == pytest.approx(expected.item(), rel=1e-5)
    ctx = StepContext("g", Batch(real, None, torch.zeros(3, 1), fake), Models(D, D))
    assert objective.g_loss(ctx).item() == pytest.approx(
        F.softplus(-(c_fake - c_real)).mean().item(), rel=1e-5)


def test_r3gan_gamma_follows_a_cosine_from_gamma_to_gamma_end_then_stays():
    from ganzoo_classic.objectives import RelativisticPairing

    from ganzoo.core.context import Batch, Models, StepContext, Updates

    D = LinearCritic()
    objective = RelativisticPairing(gamma=0.05, gamma_end=0.005, decay_images=100)
    state = objective.initial_state(None, D)
    batch = Batch(torch.randn(25, 1, 2, 2), None, torch.zeros(25, 1), torch.randn(25, 1, 2, 2))
    ctx = StepContext("d", batch, Models(D, D), state=state)
    seen = []
    for _ in range(6):  # 25 images a D update: the run's first 100 images decay gamma
        objective.after_d_update(ctx)
        seen.append(state["gamma"].item())
    assert seen == pytest.approx([0.005 + 0.045 * (1 + math.cos(math.pi * i / 4)) / 2
                                  for i in (1, 2, 3, 4, 4, 4)])
    fresh = StepContext("d", batch, Models(D, D), state=state,  # the loss reads the state
                        updates=Updates(0, 6, objective.lazy))
    square = D.w.square().sum().item()
    c_real, c_fake = batch.real.flatten(1) @ D.w, batch.fake.flatten(1) @ D.w
    expected = F.softplus(-(c_real - c_fake)).mean().item() + 0.005 / 2 * 2 * square
    assert objective.d_loss(fresh).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="needs both gamma_end and decay_images"):
        RelativisticPairing(gamma_end=0.005)


@pytest.mark.parametrize("shape, widths", [((1, 28, 28), [32, 16, 8]),
                                           ((3, 32, 32), [16, 16, 16, 16]),
                                           ((3, 64, 64), [16, 16, 8, 8, 8])])
def test_r3gan_networks_start_as_their_skeleton_and_take_28_to_64_px(shape, widths):
    from ganzoo_classic.r3gan import R3GANDiscriminator, R3GANGenerator, ResidualBlock

    torch.manual_seed(0)
    G = R3GANGenerator(16, shape, widths, cardinality=4, blocks=2)
    D = R3GANDiscriminator(shape, widths, cardinality=4, blocks=2)
    images = G(torch.randn(5, 16))
    assert images.shape == (5, *shape) and D(images).shape == (5,)
    assert 0.1 < images.std().item() < 10  # no normalisation, yet a sane scale at init
    block = next(m for m in G.modules() if isinstance(m, ResidualBlock))
    x = torch.randn(2, widths[0], 4, 4)
    assert torch.equal(block(x), x)  # each block's last conv is zero: the identity


def test_r3gan_resampling_keeps_a_constant_and_refuses_a_side_it_cannot_halve():
    from ganzoo_classic.r3gan import R3GANGenerator, Resample

    flat = torch.full((1, 2, 8, 8), 3.0)
    up, down = Resample(up=True)(flat), Resample(up=False)(flat)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    assert torch.allclose(up[..., 1:-1, 1:-1], torch.tensor(3.0))  # inside the border
    assert torch.allclose(down[..., 1:, 1:], torch.tensor(3.0))
    ramp = torch.arange(4.0).view(1, 1, 1, 4)  # along a row: the [1, 2, 1] filter's values
    assert Resample(up=True)(ramp.expand(1, 1, 2, 4))[0, 0, 0].tolist() == [
        0, 0.5, 1, 1.5, 2, 2.5, 3, 1.5]
    assert Resample(up=False)(ramp.expand(1, 1, 4, 4))[0, 0, 1].tolist() == [0.25, 2.0]
    with pytest.raises(ValueError, match="halves 3 times"):
        R3GANGenerator(16, (1, 28, 28), [8, 8, 8, 8])


def test_the_first_d_pass_of_a_d_update_goes_through_ddp_whichever_field_asks():
    from ganzoo.core.context import Batch, Models, StepContext

    D, passes = LinearCritic(), []

    def wrapper(x, *labels):
        passes.append("wrapper")
        return D(x, *labels)

    batch = Batch(torch.randn(2, 1, 2, 2), None, torch.zeros(2, 1), torch.randn(2, 1, 2, 2))
    ctx = StepContext("d", batch, Models(D, wrapper))
    ctx.d(batch.real)
    ctx.d(batch.fake)
    assert passes == ["wrapper"] and ctx.real_out is not None and passes == ["wrapper"]
    StepContext("g", batch, Models(D, wrapper)).d(batch.real)  # D is frozen in G's update
    assert passes == ["wrapper"]


def test_r3gan_trains_with_lazy_penalties_and_a_population_says_why_in_turn(small_data,
                                                                          tmp_path):
    run = ganzoo.train("dcgan-mnist", out=tmp_path / "solo", data_dir=small_data, epochs=1,
                       batch_size=32, quiet=True, loss={"name": "r3gan", "kwargs": {"every": 4}})
    assert all(math.isfinite(run.history[-1][k]) for k in ("loss_d", "loss_g"))
    result = run_cli("train", "dcgan-mnist", "--data-dir", small_data, "--out", tmp_path / "pop",
                     "--population", "2", "--epochs", "1", "--set", "batch_size=32",
                     "--set", "loss=r3gan")
    assert result.exit_code == 0, result.output
    assert "cannot run under torch.func.vmap" in result.output
