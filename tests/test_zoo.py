"""The zoo: every preset trains, samples and resumes; the variants' own parts are checked."""

import ast
import gzip
import json
from pathlib import Path

import pytest
import torch
from ganzoo_classic import fashion
from ganzoo_classic.losses import Hinge, LeastSquares, WassersteinGP, gradient_penalty
from helpers import assert_clean_error, make_mnist_root, run_cli, write_idx
from safetensors import safe_open

import ganzoo
from ganzoo.core.build import build
from ganzoo.core.config import apply_overrides
from ganzoo.core.errors import ConfigError, DataError
from ganzoo.core.kinds import KINDS
from ganzoo.core.plugins import get_registry
from ganzoo.engine.step import TrainStep

QUICK = ("--set", "batch_size=32", "--set", "sample_every=1", "--set", "eval_every=0",
         "--checkpoint-every", "0", "--quiet")


@pytest.fixture
def data_root(tmp_path):
    root = make_mnist_root(tmp_path / "data")
    return make_mnist_root(root, folder="FashionMNIST")


def tensors(path, prefix=""):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}  # noqa: SIM118


VARIANTS = ["wgan-mnist", "ragan-mnist", "softmax-gan-mnist", "bgan-mnist", "dragan-mnist",
            "wgan-div-mnist", "acgan-mnist", "dcgan-diffaugment-mnist", "infogan-mnist",
            "began-mnist", "ebgan-mnist", "sgan-mnist", "clustergan-mnist", "aae-mnist",
            "cogan-mnist", "r3gan-mnist"]
# what a preset needs beside QUICK on the small test data (about 25 images of each digit)
SMALL = {"sgan-mnist": ("--set", "dataset.labeled_per_class=5")}


def quick(preset):
    return (*QUICK, *SMALL.get(preset, ()))
PRESETS = ["vanilla-mnist", "dcgan-mnist", "wgan-gp-mnist", "lsgan-mnist", "hinge-dcgan-mnist",
           "cgan-mnist", "cdcgan-mnist", "vanilla-fashion-mnist", "dcgan-fashion-mnist",
           *VARIANTS]


def test_every_preset_is_listed_with_summary_and_provider():
    result = run_cli("list", "presets")
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if line.startswith("  ")]
    colour = ["dcgan-cifar10", "cdcgan-cifar10", "sngan-cifar10",  # tests/test_cifar
              "sngan-diffaugment-cifar10", "r3gan-cifar10", "r3gan-diffaugment-cifar10",
              "dcgan-folder",  # tests/test_folders
              "pix2pix-edges2mnist", "cyclegan-mnist-restyle", "pix2pix-folder",
              "cyclegan-folder"]  # tests/test_translate
    assert sorted(line.split()[0] for line in lines) == sorted(PRESETS + colour)
    assert all(line.rstrip().endswith("]") and "ganzoo" in line for line in lines)
    dcgans = run_cli("list", "presets", "dcgan*").output.split()
    assert "dcgan-mnist" in dcgans and "dcgan-fashion-mnist" in dcgans
    assert "wgan-gp-mnist" not in dcgans and "vanilla-mnist" not in dcgans


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_trains_samples_and_resumes_bitwise(preset, data_root, tmp_path):
    """Every preset, trained once on a small subset: two epochs straight, and one, a stop
    and one more, give the same weights, optimiser state (RMSprop's included) and RNG; a
    checkpoint samples a grid; each epoch has a finite record."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    for out, epochs in ((straight, "2"), (split, "1"), (split, "2")):
        where = ("--resume", out) if out == split and epochs == "2" else ("--out", out)
        result = run_cli("train", preset, "--data-dir", data_root, *where, "--epochs", epochs,
                         *quick(preset))
        assert result.exit_code == 0, result.output
    a = tensors(straight / "checkpoints" / "epoch-0001.safetensors")
    b = tensors(split / "checkpoints" / "epoch-0001.safetensors")
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    first = tensors(split / "checkpoints" / "epoch-0000.safetensors", "generator.")
    assert any(not torch.equal(first[k], b[k]) for k in first)  # the resumed epoch trained
    grid = tmp_path / "grid.png"
    sampled = run_cli("sample", split / "checkpoints" / "epoch-0000.safetensors", "-n", "16",
                      "-o", grid)
    assert sampled.exit_code == 0 and grid.stat().st_size > 0, sampled.output
    rows = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(torch.isfinite(torch.tensor([r["loss_d"], r["loss_g"]])).all() for r in rows)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28), (1, 32, 32), (3, 32, 32),
                                   (3, 64, 64), (1, 128, 128), (3, 128, 128)])
@pytest.mark.parametrize("norm", ["batch", "layer", "spectral", "none"])
@pytest.mark.parametrize("classes", [0, 4])
def test_dcgan_models_fit_28_to_128_pixel_images_of_any_channel_count(shape, norm, classes):
    from ganzoo_classic.models import DCGANDiscriminator, DCGANGenerator

    G = DCGANGenerator(z_dim=8, out_shape=shape, base=8, num_classes=classes)
    D = DCGANDiscriminator(in_shape=shape, base=8, norm=norm, num_classes=classes)
    labels = (torch.arange(3) % classes,) if classes else ()
    images = G(torch.randn(3, 8), *labels)
    assert images.shape == (3, *shape) and images.abs().max() <= 1
    assert D(images, *labels).shape == (3,)
    assert D.batch_dependent == (norm == "batch")
    if classes:  # the label changes the output
        assert not torch.equal(G.eval()(torch.zeros(2, 8), torch.tensor([0, 1]))[0],
                               G(torch.zeros(2, 8), torch.tensor([0, 1]))[1])


def test_dcgan_refuses_sizes_it_cannot_reach():
    from ganzoo_classic.models import DCGANGenerator

    with pytest.raises(ValueError, match="square"):
        DCGANGenerator(out_shape=(1, 28, 32))
    with pytest.raises(ValueError, match="stride-2"):
        DCGANGenerator(out_shape=(1, 27, 27))


# -- losses --------------------------------------------------------------------------------
def test_gradient_penalty_matches_a_hand_computed_value():
    # critic(x) = sum(x^2): its gradient is 2x, so the penalty is mean((2|x| - 1)^2)
    points = torch.tensor([[3.0, 4.0], [0.0, 0.25]])  # |2x| = 10 and 0.5
    penalty = gradient_penalty(lambda x: x.square().sum(1), points)
    assert penalty.item() == pytest.approx(((10 - 1) ** 2 + (0.5 - 1) ** 2) / 2)


def test_wgan_gp_regularizer_is_weighted_and_differentiable_in_the_critic():
    # a linear critic w.x has gradient w at every interpolate: penalty 10 (|w| - 1)^2
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    reg = WassersteinGP(weight=10.0).discriminator_regularizer(lambda x: x @ w, real, fake)
    assert reg.item() == pytest.approx(10 * (5 - 1) ** 2)
    (grad,) = torch.autograd.grad(reg, w)  # d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    assert torch.allclose(grad, 20 * 4 * torch.tensor([3.0, 4.0]) / 5)


def test_wasserstein_least_squares_and_hinge_losses_by_hand():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.5])
    wgan = WassersteinGP()
    assert wgan.discriminator_loss(real, fake).item() == pytest.approx(-0.25 - 1.0)
    assert wgan.generator_loss(fake).item() == pytest.approx(0.25)
    ls = LeastSquares()
    assert ls.discriminator_loss(real, fake).item() == pytest.approx(((1 + 1) / 2 +
                                                                      (1 + 0.25) / 2) / 2)
    assert ls.generator_loss(fake).item() == pytest.approx((4 + 0.25) / 2 / 2)
    hinge = Hinge()
    assert hinge.discriminator_loss(real, fake).item() == pytest.approx(0.5 + 0.75)
    assert hinge.generator_loss(fake).item() == pytest.approx(0.25)


def test_bad_loss_weight_is_one_clear_error(data_root):
    result = run_cli("train", "wgan-gp-mnist", "--data-dir", data_root, "--set", "loss.weight=-1")
    assert_clean_error(result, "weight must be >= 0")


# -- engine options any preset can use -------------------------------------------------------
def _step(preset_name, **settings):
    preset = get_registry().preset(preset_name)
    preset = apply_overrides(preset, settings)
    torch.manual_seed(0)
    parts = build(preset)
    return TrainStep(parts, preset)


def _batch(n, classes=10):
    return torch.rand(n, 1, 28, 28) * 2 - 1, torch.arange(n) % classes


def test_n_critic_updates_d_several_times_per_g_update_each_on_its_own_batch():
    step = _step("wgan-gp-mnist", batch_size=4, n_critic=3)
    seen = []
    forward = step.discriminator.forward
    step.discriminator.forward = lambda x, *a: seen.append(x.detach().clone()) or forward(x, *a)
    d_losses = []
    d_loss = step.objective.d_loss  # the objective is the plugin's: its calls are public
    step.objective.d_loss = lambda ctx: d_losses.append(d_loss(ctx)) or d_losses[-1]
    real, _ = _batch(12)
    losses = step(real)
    assert losses.shape == (2,) and torch.isfinite(losses).all()
    assert len(d_losses) == 3  # the step's loss_d is their mean
    assert torch.allclose(losses[0], sum(d_losses).detach() / 3)
    d_state = step.opt_d.state[next(iter(step.discriminator.parameters()))]
    g_state = step.opt_g.state[next(iter(step.generator.parameters()))]
    assert d_state["step"].item() == 3 and g_state["step"].item() == 1
    real_halves = [x[:4] for x in seen if x.shape[0] == 8]  # D's real+fake passes
    assert [torch.equal(r, real[4 * i:4 * i + 4]) for i, r in enumerate(real_halves)] == [True] * 3


def test_conditional_models_get_the_batch_labels():
    step = _step("cgan-mnist", batch_size=8)
    calls = []
    for name, model in (("G", step.generator), ("D", step.discriminator)):
        forward = model.forward
        model.forward = (lambda f, who: lambda x, y: calls.append((who, y.clone())) or f(x, y))(
            forward, name)
    real, labels = _batch(8)
    labels = labels.flip(0)
    step(real, labels)
    assert [who for who, _ in calls] == ["G", "D", "D"]  # G once, D on real+fake, D for G
    assert torch.equal(calls[0][1], labels)
    assert torch.equal(calls[1][1], torch.cat([labels, labels]))
    assert torch.equal(calls[2][1], labels)
    with pytest.raises(ConfigError, match="labels"):
        step(real)


def test_ema_follows_the_generator_and_is_what_samples_use(data_root, tmp_path):
    step = _step("dcgan-mnist", batch_size=8, ema=0.9)
    start = [p.detach().clone() for p in step.generator.parameters()]
    step(_batch(8)[0])
    for e, p, p0 in zip(step.ema.parameters(), step.generator.parameters(), start, strict=True):
        assert torch.allclose(e, 0.9 * p0 + 0.1 * p.detach(), atol=1e-6)
    assert not any(torch.equal(e, p) for e, p in zip(step.ema.parameters(),
                                                     step.generator.parameters(), strict=True))

    run = tmp_path / "run"
    result = run_cli("train", "dcgan-mnist", "--data-dir", data_root, "--out", run, "--epochs",
                     "1", *QUICK, "--set", "ema=0.999")
    assert result.exit_code == 0, result.output
    ckpt = run / "checkpoints" / "epoch-0000.safetensors"
    assert tensors(ckpt, "generator_ema.").keys()
    from ganzoo.evaluation.sampling import load_generator

    loaded = load_generator(run).generator.state_dict()
    ema = {k.removeprefix("generator_ema."): v
           for k, v in tensors(run / "generator.safetensors", "generator_ema.").items()}
    raw = tensors(run / "generator.safetensors", "generator.")
    assert all(torch.equal(loaded[k], v) for k, v in ema.items())
    assert any(not torch.equal(loaded[k.removeprefix("generator.")], v) for k, v in raw.items())
    resumed = run_cli("train", "dcgan-mnist", "--data-dir", data_root, "--resume", run,
                      "--epochs", "2", "--quiet")
    assert resumed.exit_code == 0, resumed.output


def test_ema_out_of_range_is_one_clear_error(data_root):
    result = run_cli("train", "dcgan-mnist", "--data-dir", data_root, "--set", "ema=1")
    assert_clean_error(result, "ema must be in [0, 1)")


def test_sample_class_draws_that_class_and_rejects_nonsense(data_root, tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "cgan-mnist", "--data-dir", data_root, "--out", run, "--epochs", "1",
                   *QUICK).exit_code == 0
    from ganzoo.evaluation.sampling import load_generator, sample

    generator = load_generator(run).generator
    calls = []
    forward = generator.forward
    generator.forward = lambda z, y: calls.append(y) or forward(z, y)
    images = sample(generator, 5, seed=0, labels=7)
    assert images.shape == (5, 1, 28, 28) and torch.equal(calls[0], torch.full((5,), 7))
    assert run_cli("sample", run, "--class", "7", "-o", tmp_path / "7.png").exit_code == 0
    assert_clean_error(run_cli("sample", run, "--class", "10"), "classes 0 to 9")
    plain = tmp_path / "plain"
    assert run_cli("train", "dcgan-mnist", "--data-dir", data_root, "--out", plain, "--epochs",
                   "1", *QUICK).exit_code == 0
    assert_clean_error(run_cli("sample", plain, "--class", "1"), "class-conditional")


def test_conditional_models_must_agree_with_the_dataset(data_root):
    result = run_cli("train", "cgan-mnist", "--data-dir", data_root,
                     "--set", "generator.num_classes=5")
    assert_clean_error(result, "conditioned on the dataset's 10 classes", "generator 5")


# -- Fashion-MNIST -------------------------------------------------------------------------
def test_fashion_mnist_comes_from_debians_files(tmp_path, monkeypatch):
    images = (torch.arange(8 * 28 * 28) % 251).to(torch.uint8).view(8, 28, 28).numpy()
    debian = tmp_path / "debian"
    debian.mkdir()
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", images), ("labels-idx1", images[:, 0, 0] % 10)):
            plain = tmp_path / f"{prefix}-{kind}-ubyte"
            write_idx(plain, array)
            (debian / f"{plain.name}.gz").write_bytes(gzip.compress(plain.read_bytes()))

    def offline(raw_dir):
        raise OSError("network is unreachable")

    monkeypatch.setattr(fashion, "DEBIAN_DIR", debian)
    monkeypatch.setattr(fashion.FashionMNIST, "fetchers",
                        (("torchvision download", offline),
                         ("Debian's files", fashion.copy_debian_files)))
    loaded, labels = fashion.FashionMNIST().load("train", tmp_path / "root")
    assert torch.equal(loaded[:, 0], torch.from_numpy(images))
    assert labels.tolist() == (images[:, 0, 0] % 10).tolist()
    assert (tmp_path / "root" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()


def test_missing_fashion_mnist_names_all_three_routes(tmp_path, monkeypatch):
    def offline(raw_dir):
        raise OSError("network is unreachable")

    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "not-installed")
    monkeypatch.setattr(fashion.FashionMNIST, "fetchers",
                        (("torchvision download", offline),
                         ("Debian's files", fashion.copy_debian_files)))
    with pytest.raises(DataError) as err:
        fashion.FashionMNIST().load("train", tmp_path / "empty")
    for fragment in ("IDX files under", "FashionMNIST/raw", "torchvision download: OSError",
                     "Debian's files: FileNotFoundError", "apt install dataset-fashion-mnist"):
        assert fragment in str(err.value)


# -- the engine knows no variant ------------------------------------------------------------
def test_the_engine_names_no_registered_component_or_preset():
    """No ``if preset == ...``: no string in the engine's code equals a registered name."""
    registry = get_registry()
    names = {e.name for kind in KINDS for e in registry.list(kind.name)}
    names |= {a for kind in KINDS for e in registry.list(kind.name) for a in e.aliases}
    engine = Path(ganzoo.__file__).parent
    found = {}
    for source in engine.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.setdefault(str(source.relative_to(engine)), []).append(node.value)
    assert not found
