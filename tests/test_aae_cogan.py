"""The last of the noise->image family: the adversarial autoencoder (an objective whose
adversary judges codes, not images: the preset's D is ``none``) and the coupled GAN (two
domains side by side, one logit per domain), checked by hand, as populations and by their
evaluation."""

import types

import pytest
import torch
import torch.nn.functional as F
from ganzoo_classic.coupled import CoupledDiscriminator, CoupledGenerator, CoupledMNIST
from ganzoo_classic.objectives import AdversarialAutoencoder
from ganzoo_vanilla.models import MLPGenerator
from helpers import assert_clean_error, make_mnist_root, run_cli
from safetensors.torch import load_file

import ganzoo
from ganzoo.evaluation.quality import Scorer
from ganzoo.evaluation.structure import domain_scores


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    return make_mnist_root(tmp_path_factory.mktemp("aae-cogan") / "data")


def test_aae_losses_by_hand():
    """D: (BCE(D(z), 1) + BCE(D(E(x)), 0)) / 2 in one pass; G and E: adversarial x BCE(D(E(x)),
    1) + reconstruction x |G(E(x)) - x|_1, E's code drawn from its posterior."""
    G = MLPGenerator(z_dim=2, hidden=(8,))
    aae = AdversarialAutoencoder(adversarial=0.25, reconstruction=0.75, hidden=8)
    nets = {name: net.module for name, net in aae.networks(G, ganzoo.NoDiscriminator()).items()}
    assert {n: net.side for n, net in aae.networks(G, None).items()} == {"encoder": "g",
                                                                        "critic": "d"}
    mean = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    nets["encoder"] = lambda x: torch.cat([mean, torch.full((2, 2), -1e4)], 1)  # std 0
    passes = []
    critic = nets["critic"]
    nets["critic"] = lambda z: passes.append(z) or critic(z)
    real = torch.rand(2, 1, 28, 28) * 2 - 1
    noise = torch.randn(2, 2)
    ctx = types.SimpleNamespace(real=real, noise=noise, nets=nets, g=G)
    d = aae.d_loss(ctx)
    assert len(passes) == 1 and torch.equal(passes[0], torch.cat([noise, mean]))
    expected = (F.softplus(-critic(noise)).mean() + F.softplus(critic(mean)).mean()) / 2
    assert d.item() == pytest.approx(expected.item(), rel=1e-6)
    g = aae.g_loss(ctx)
    expected = (0.25 * F.softplus(-critic(mean)).mean()
                + 0.75 * (G(mean) - real).abs().mean())
    assert g.item() == pytest.approx(expected.item(), rel=1e-6)


def test_a_none_discriminator_asked_to_judge_images_is_one_clear_error(small_data, tmp_path):
    result = run_cli("train", "aae-mnist", "--data-dir", small_data, "--out", tmp_path / "r",
                     "--set", "loss=bce", "--epochs", "1", "--quiet")
    assert_clean_error(result, "discriminator judges no images", "its own networks",
                       "'bce' has none")
    assert not list((tmp_path / "r").glob("checkpoints/*"))


@pytest.mark.parametrize("preset", ["aae-mnist", "cogan-mnist"])
def test_trains_as_a_population_in_one_vectorised_step(preset, small_data, tmp_path):
    """ctx.g (AAE's decoder on E's codes), a D with nothing to train, one logit per domain:
    all under vmap, no fallback; the members differ where their lr_g does."""
    result = run_cli("train", preset, "--data-dir", small_data, "--out", tmp_path / "pop",
                     "--population", "1", "--sweep", "lr_g=0.0002,0.001", "--epochs", "1",
                     "--set", "batch_size=32", "--set", "sample_every=1")
    assert result.exit_code == 0, result.output
    assert "in turn" not in result.output and "one vectorised step" in result.output
    members = sorted((tmp_path / "pop" / "members").glob("member-*/generator.safetensors"))
    assert len(members) == 2
    a, b = (load_file(m) for m in members)
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)


def test_coupled_models_judge_each_domain_apart_and_draw_both_from_one_noise():
    G = CoupledGenerator(z_dim=8, base=8)
    D = CoupledDiscriminator(base=8)
    images = G(torch.randn(3, 8))
    assert images.shape == (3, 1, 28, 56) and images.abs().max() <= 1
    assert not torch.equal(images[..., :28], images[..., 28:])  # each domain its own head
    out = D(images)
    assert out.shape == (3, 2) and D.logits_shape == (2,)
    changed = images.clone()
    changed[..., 28:] = -changed[..., 28:]  # only the second domain's half
    after = D(changed)
    assert torch.equal(after[:, 0], out[:, 0]) and not torch.equal(after[:, 1], out[:, 1])
    shared = {n for n, _ in G.named_parameters() if n.startswith("shared.")}
    assert shared and {n for n, _ in D.named_parameters() if n.startswith("shared.")}
    with pytest.raises(ValueError, match="side by side"):
        CoupledGenerator(out_shape=(1, 28, 28))


def test_coupled_mnist_sets_each_digit_beside_an_unrelated_digits_negative(small_data):
    coupled, digits = CoupledMNIST(), CoupledMNIST().digits
    images, labels = coupled.load("train", small_data)
    plain, plain_labels = digits.load("train", small_data)
    assert images.shape == (256, 1, 28, 56) and torch.equal(labels, plain_labels)
    assert torch.equal(images[..., :28], plain)
    right = 255 - images[..., 28:]
    order = [int((plain == r).flatten(1).all(1).nonzero()[0]) for r in right]
    assert sorted(order) == list(range(256)) and order != list(range(256))
    assert torch.equal(coupled.load("train", small_data)[0], images)  # the same every time
    views = coupled.domains(images.float() / 127.5 - 1)
    assert list(views) == ["digits", "negatives"]
    assert torch.allclose(views["negatives"], right.float() / 127.5 - 1, atol=1e-6)


class StrokeEvaluator(ganzoo.Evaluator):
    """Classifies the tests' fake digits exactly: by the column of their stroke."""

    def __init__(self):
        super().__init__((1, 28, 28), 10)

    def features(self, x):
        return x[:, 0, 4:24].mean(1)  # (N, 28) column brightness

    def classify(self, features):
        column = (features > 0.9).float().argmax(1)
        return F.one_hot((column - 2) // 2, 10).float() * 10


class Replay(ganzoo.Generator):
    """A 'generator' drawing coupled test images in order: pairs of one digit or not."""

    def __init__(self, images):
        super().__init__(1, tuple(images.shape[1:]))
        self.images, self.at = images, 0

    def forward(self, z, labels=None):
        out = self.images[self.at:self.at + len(z)]
        self.at += len(z)
        return out


@pytest.mark.parametrize("paired", [True, False])
def test_domain_scores_count_samples_whose_domains_show_one_class(small_data, paired):
    coupled = CoupledMNIST()
    images, labels = coupled.digits.load("test", small_data)
    unit = images.float() / 127.5 - 1
    order = torch.arange(len(unit)) if paired else torch.roll(torch.arange(len(unit)), 1)
    pairs = torch.cat([unit, -unit[order]], dim=3)
    scorer = Scorer(StrokeEvaluator(), images, torch.device("cpu"))
    quality, agreement = domain_scores(scorer, Replay(pairs), coupled, len(pairs))
    assert list(quality) == ["digits", "negatives"]
    assert quality["digits"].fid == pytest.approx(0, abs=1e-3)
    expected = (labels == labels[order]).double().mean().item()
    assert agreement == pytest.approx(expected) and (agreement == 1.0) == paired
    assert domain_scores(scorer, Replay(pairs), coupled.digits, len(pairs)) is None


def test_a_coupled_run_is_scored_per_domain_during_training_and_by_eval(small_data, tmp_path):
    run = tmp_path / "run"
    result = run_cli("train", "cogan-mnist", "--data-dir", small_data, "--out", run,
                     "--epochs", "1", "--set", "batch_size=32", "--set", "eval_every=1")
    assert result.exit_code == 0, result.output
    assert "quality: FID" in result.output  # the first domain's, by MNIST's evaluator
    result = run_cli("eval", run, "--data-dir", small_data, "-n", "200", "--json")
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.output[result.output.index("{"):])
    assert list(report["domains"]) == ["digits", "negatives"]
    assert report["generator"] == report["domains"]["digits"]
    assert 0 <= report["domain_agreement"] <= 1
    assert report["evaluator"]["dataset"] == "mnist"
