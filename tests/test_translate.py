"""Image-to-image translation: pairs stacked on channels, pix2pix's and CycleGAN's networks
and objectives (checked by hand), the MNIST-derived sets, training, resuming, populations,
``ganzoo translate`` and the translation metrics."""

import json
import types

import pytest
import torch
import torch.nn.functional as F
from ganzoo_translate.mnist import EdgesToMNIST, RestyledMNIST, dilate
from ganzoo_translate.models import PatchDiscriminator, ResNetTranslator, UNetTranslator
from ganzoo_translate.objectives import CycleGAN, Pix2Pix, draw_from_pool
from ganzoo_vanilla.mnist import MNIST
from helpers import assert_clean_error, make_mnist_root, run_cli
from PIL import Image
from safetensors import safe_open

import ganzoo
from ganzoo import pairs

SMALL = ("--set", "batch_size=16", "--set", "generator.width=8", "--set",
         "discriminator.width=8", "--checkpoint-every", "0", "--quiet")
PRESETS = {"pix2pix-edges2mnist": SMALL,
           "cyclegan-mnist-restyle": (*SMALL, "--set", "generator.blocks=1")}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_mnist_root(tmp_path_factory.mktemp("translate") / "data", n_train=160,
                           n_test=32)


def tensors(path):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def straight_and_resumed(tmp_path, *args):
    """Train with ``args`` two epochs straight (``straight/``), and one, a stop and one more
    (``split/``); checks that both last checkpoints hold the same tensors, bit for bit, and
    returns them."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    for out, epochs in ((straight, "2"), (split, "1"), (split, "2")):
        where = ("--resume", out) if out == split and epochs == "2" else ("--out", out)
        result = run_cli("train", *args, *where, "--epochs", epochs)
        assert result.exit_code == 0, result.output
    a = tensors(straight / "checkpoints" / "epoch-0001.safetensors")
    b = tensors(split / "checkpoints" / "epoch-0001.safetensors")
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []
    return a, b


def test_pairs_stack_a_and_b_on_channels():
    a, b = torch.rand(3, 2, 4, 4), torch.rand(3, 2, 4, 4)
    x = pairs.join(a, b)
    assert x.shape == (3, 4, 4, 4)
    assert all(torch.equal(u, v) for u, v in zip(pairs.split(x), (a, b), strict=True))
    assert all(torch.equal(u, v) for u, v in zip(pairs.split(pairs.swap(x)), (b, a),
                                                 strict=True))
    rows = pairs.rows(x, pairs.join(b, a), ("AB",))
    assert rows.shape == (3, 2, 4, 12) and torch.equal(rows[..., 4:8], a)  # A, G(A), B


@pytest.mark.parametrize("shape", [(2, 32, 32), (6, 32, 32), (2, 64, 64), (6, 128, 128),
                                   (2, 256, 256)])
def test_the_networks_fit_32_to_256_pixels_and_1_or_3_channels(shape):
    x = torch.rand(2, *shape) * 2 - 1
    unet = UNetTranslator(shape, width=4)
    out = unet(x)
    assert out.shape == x.shape and out.abs().max() <= 1
    assert torch.equal(pairs.split(out)[0], pairs.split(x)[0])  # (A, G(A))
    both = ResNetTranslator(shape, width=4, blocks=1)
    assert both(x).shape == x.shape and both.directions == ("AB", "BA")
    for judge, logits in (("pair", ()), ("domains", (2,))):
        D = PatchDiscriminator(shape, width=4, judge=judge)
        side = shape[1] // 8 - 2  # 70x70 patches: 30x30 logits at 256 px, as the paper
        assert D(x).shape == (2, *logits, side, side) == (2, *D.logits_shape)


def test_a_translator_of_both_ways_gives_the_cycle_and_the_identity():
    """(G_BA(B), G_AB(A)); applied to its own output, the cycle; to swap(real), identity."""
    G = ResNetTranslator((2, 16, 16), width=4, blocks=1).eval()
    a, b = torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)
    ab, ba = G.nets["AB"], G.nets["BA"]
    with torch.no_grad():
        real = pairs.join(a, b)
        fake = G(real)
        assert torch.equal(fake, pairs.join(ba(b), ab(a)))
        assert torch.allclose(G(fake), pairs.join(ba(ab(a)), ab(ba(b))))
        assert torch.allclose(G(pairs.swap(real)), pairs.join(ba(a), ab(b)))
        assert torch.equal(G.translate(a, "AB"), ab(a))
        assert torch.equal(G.translate(b, "BA"), ba(b))
    with pytest.raises(ganzoo.ConfigError, match="A to B only"):
        UNetTranslator((2, 16, 16), width=4).translate(a, "BA")


def test_the_networks_refuse_shapes_they_cannot_take():
    with pytest.raises(ValueError, match="power of 2"):
        UNetTranslator((2, 28, 28))
    with pytest.raises(ValueError, match="pairs stacked"):
        UNetTranslator((3, 32, 32))
    with pytest.raises(ValueError, match="directions"):
        UNetTranslator((2, 32, 32), directions="BA")
    with pytest.raises(ValueError, match="at least 24"):
        PatchDiscriminator((2, 16, 16))


def context(real, fake, D, G=None, state=None, update="g"):
    """What the objectives read of a StepContext, computed by hand."""
    return types.SimpleNamespace(
        real=real, fake=fake, state=state or {}, update=update, g=G,
        real_out=ganzoo.DOutput(D(real)), fake_out=ganzoo.DOutput(D(fake)),
        d=lambda x: ganzoo.DOutput(D(x)))


def test_pix2pix_losses_by_hand():
    """D: (BCE(D(A, B), 1) + BCE(D(A, G(A)), 0)) / 2; G: BCE(D(A, G(A)), 1) + l1 |G(A) - B|."""
    D = PatchDiscriminator((2, 32, 32), width=4)
    a, b, made = (torch.rand(3, 1, 32, 32) * 2 - 1 for _ in range(3))
    real, fake = pairs.join(a, b), pairs.join(a, made)
    ctx = context(real, fake, D)
    bce = F.binary_cross_entropy_with_logits
    r, f = D(real), D(fake)
    d = (bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f))) / 2
    assert Pix2Pix(l1=7).d_loss(ctx).item() == pytest.approx(d.item(), rel=1e-5)
    g = bce(f, torch.ones_like(f)) + 7 * (made - b).abs().mean()
    assert Pix2Pix(l1=7).g_loss(ctx).item() == pytest.approx(g.item(), rel=1e-5)


def test_cyclegan_losses_by_hand():
    """Least squares per domain (D_A, D_B summed), cycle x |rec - x| and identity x cycle x
    |idt - x| per domain, from the two networks themselves."""
    G = ResNetTranslator((2, 32, 32), width=4, blocks=1)
    D = PatchDiscriminator((2, 32, 32), width=4, judge="domains")
    a, b = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1
    ab, ba = G.nets["AB"], G.nets["BA"]
    d_a, d_b = D.nets
    real = pairs.join(a, b)
    fake = G(real)
    ctx = context(real, fake, D, G)
    mse = F.mse_loss
    g = (mse(d_a(ba(b)), torch.ones(2, 1, 2, 2)) + mse(d_b(ab(a)), torch.ones(2, 1, 2, 2))
         + 10 * ((ba(ab(a)) - a).abs().mean() + (ab(ba(b)) - b).abs().mean())
         + 0.5 * 10 * ((ba(a) - a).abs().mean() + (ab(b) - b).abs().mean()))
    objective = CycleGAN(pool=0)
    assert objective.g_loss(ctx).item() == pytest.approx(g.item(), rel=1e-5)
    d = sum((mse(net(x), torch.ones(2, 1, 2, 2)) + mse(net(y), torch.zeros(2, 1, 2, 2))) / 2
            for net, x, y in ((d_a, a, ba(b)), (d_b, b, ab(a))))
    assert objective.d_loss(ctx).item() == pytest.approx(d.item(), rel=1e-5)
    with pytest.raises(ganzoo.ConfigError, match="judge=domains"):
        objective.initial_state(G, PatchDiscriminator((2, 64, 64), width=4))
    with pytest.raises(ganzoo.ConfigError, match="both ways"):
        objective.initial_state(UNetTranslator((2, 32, 32)), D)


def test_the_pool_stores_while_it_fills_then_swaps_half_for_earlier_fakes():
    torch.manual_seed(0)
    objective = CycleGAN(pool=4)
    state = objective.initial_state(types.SimpleNamespace(out_shape=(2, 1, 1),
                                                          directions=("AB", "BA")),
                                    types.SimpleNamespace(logits_shape=(2, 1, 1)))
    pool, pooled = state["pool"], state["pooled"]
    assert pool.dtype == torch.int16 and pool.shape == (5, 2, 1, 1)  # a slot to spare
    first = torch.tensor([0.5, -0.25, 0.75]).view(3, 1, 1, 1).expand(3, 2, 1, 1)
    assert torch.equal(draw_from_pool(pool, pooled, first), first)  # filling: shown as is
    assert pooled.item() == 3
    assert torch.allclose(pool[:3].float() / 32767, first, atol=1e-4)
    second = torch.full((3, 2, 1, 1), 0.1)
    assert torch.equal(draw_from_pool(pool, pooled, second), second)  # fills the last slot
    assert pooled.item() == 4 and pool[4].abs().sum() == 0
    before = set(pool[:4, 0, 0, 0].tolist())
    swapped = 0
    for _ in range(20):
        new = torch.rand(4, 1, 1, 1).expand(4, 2, 1, 1) * 0.9
        stored = {round(v, 4) for v in (pool[:4, 0, 0, 0].float() / 32767).tolist()}
        shown = draw_from_pool(pool, pooled, new)
        for row, old in zip(shown[:, 0, 0, 0].tolist(), new[:, 0, 0, 0].tolist(), strict=True):
            if row != old:  # swapped: an earlier fake, whose slot now holds the new one
                swapped += 1
                assert round(row, 4) in stored
    assert 20 < swapped < 60  # about half of 80
    assert set(pool[:4, 0, 0, 0].tolist()) != before


def test_the_mnist_derived_sets_pair_outlines_with_digits_and_digits_with_thick_ones(data):
    edges, _ = EdgesToMNIST().load("train", data)
    restyled, labels = RestyledMNIST().load("train", data)
    digits, digit_labels = MNIST().load("train", data)
    assert edges.shape == restyled.shape == (160, 2, 32, 32) and edges.dtype == torch.uint8
    padded = F.pad(digits, (2, 2, 2, 2))
    a, b = pairs.split(edges)
    assert torch.equal(b, padded) and torch.equal(labels, digit_labels)
    assert (a > 0).sum() < (padded > 0).sum() * 3 and not torch.equal(a, b)
    a, b = pairs.split(restyled)
    assert torch.equal(a, padded)
    thick = dilate(padded)
    matches = [next(j for j in range(160) if torch.equal(b[i], thick[j]))
               for i in range(160)]
    assert sorted(matches) == list(range(160)) and matches != list(range(160))  # shuffled
    assert len(RestyledMNIST(train_images=10).load("train", data)[0]) == 10
    domains = EdgesToMNIST().domains(edges.float())
    assert domains["B"].shape == (160, 1, 28, 28) and torch.equal(domains["B"], digits.float())


@pytest.mark.parametrize("preset", list(PRESETS))
def test_trains_resumes_bitwise_and_translates_files(preset, data, tmp_path):
    """Two epochs straight, and one, a stop and one more, give the same checkpoint (the
    pool of fakes included); the grids show source, translation and target; ``translate``
    writes one PNG per input at the model's resolution; ``sample`` says to translate."""
    a, b = straight_and_resumed(tmp_path, preset, "--data-dir", data, *PRESETS[preset])
    split = tmp_path / "split"
    if preset.startswith("cyclegan"):
        assert a["objective_state.pooled"].item() == 50
    with Image.open(split / "samples" / "epoch-0001.png") as grid:
        columns = 4 if preset.startswith("cyclegan") else 3
        assert grid.size[0] == 4 * (columns * 32 + 2) + 2  # 4 rows of triplets (quads)
    with Image.open(split / "samples" / "real.png") as real:
        assert real.size[0] == 8 * (64 + 2) + 2  # A beside B
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    for i, size in enumerate([(40, 30), (64, 64), (20, 20)]):
        where = inputs / "sub" if i == 2 else inputs
        Image.new("L", size, 255).save(where / f"{i}.png")
    result = run_cli("translate", split, inputs / "0.png", inputs / "sub", "-o",
                     tmp_path / "out")
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path / "out").as_posix()
                     for p in (tmp_path / "out").rglob("*.png"))
    assert written == ["0.png", "2.png"] and "wrote 2 translations" in result.output
    with Image.open(tmp_path / "out" / "2.png") as image:
        assert image.size == (32, 32) and image.mode == "L"
    assert_clean_error(run_cli("sample", split, "-o", tmp_path / "s.png"), "ganzoo translate")
    assert run_cli("report", split, "-o", tmp_path / "page.html").exit_code == 0
    assert "each row shows a source (A), its translation" in (tmp_path / "page.html").read_text()
    run = ganzoo.load(split)
    made = run.translate(torch.zeros(3, 1, 32, 32))
    assert made.shape == (3, 1, 32, 32)
    if preset.startswith("cyclegan"):
        assert run.translate(torch.zeros(1, 1, 32, 32), "BA").shape == (1, 1, 32, 32)


def test_translate_reads_every_input_before_writing_and_names_a_bad_one(data, tmp_path):
    result = run_cli("train", "pix2pix-edges2mnist", "--data-dir", data, "--out",
                     tmp_path / "run", "--epochs", "1", *SMALL)
    assert result.exit_code == 0, result.output
    Image.new("L", (8, 8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    result = run_cli("translate", tmp_path / "run", tmp_path / "good.png",
                     tmp_path / "bad.png", "-o", tmp_path / "out")
    assert_clean_error(result, "bad.png", "not an image")
    assert not (tmp_path / "out").exists()
    result = run_cli("translate", tmp_path / "run", tmp_path / "good.png", "--direction", "BA",
                     "-o", tmp_path / "out")
    assert_clean_error(result, "A to B only")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_translators_train_under_bf16_autocast(preset, data, tmp_path):
    result = run_cli("train", preset, "--data-dir", data, "--out", tmp_path / "run",
                     "--epochs", "1", "--precision", "bf16", *PRESETS[preset])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text())
    assert torch.isfinite(torch.tensor([record["loss_d"], record["loss_g"]])).all()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_population_of_translators_trains_in_one_vectorised_step(preset, data, tmp_path):
    result = run_cli("train", preset, "--data-dir", data, "--out", tmp_path / "pop",
                     "--population", "2", "--epochs", "1",
                     *(a for a in PRESETS[preset] if a != "--quiet"))
    assert result.exit_code == 0, result.output
    assert "one vectorised step" in result.output and "in turn" not in result.output
    a, b = (tensors(p) for p in sorted((tmp_path / "pop" / "members").glob(
        "member-*/generator.safetensors")))
    assert any(not torch.equal(a[k], b[k]) for k in a)


class Perfect(ganzoo.Translator):
    """Translates every test source into its own target: it is handed the pair."""

    def forward(self, x, labels=None):
        return x


def test_translation_metrics_of_a_perfect_translator(data, cheap_evaluator):
    """L1 0, SSIM 1, the FID of the test targets with themselves, and class accuracy = the
    evaluator's own on the targets."""
    from ganzoo.evaluation.scorers import scorer_for

    dataset = EdgesToMNIST()
    scorer, info = scorer_for(dataset, data, torch.device("cpu"), say=lambda m: None)
    quality = scorer.score_generator(Perfect((2, 32, 32)), n=32)
    assert quality.l1 == pytest.approx(0, abs=1e-6) and quality.ssim == pytest.approx(1.0)
    assert quality.fid < 1e-3
    digits, labels = MNIST().load("test", data)
    seen = scorer.evaluator(digits.float() / 127.5 - 1).argmax(1)
    assert quality.class_accuracy == pytest.approx((seen == labels).double().mean().item())
    unpaired = scorer_for(RestyledMNIST(), data, torch.device("cpu"), say=lambda m: None)[0]
    assert unpaired.score_generator(Perfect((2, 32, 32)), n=32).l1 is None


def test_eval_reports_the_translation_metrics(data, tmp_path, cheap_evaluator):
    result = run_cli("train", "pix2pix-edges2mnist", "--data-dir", data, "--out",
                     tmp_path / "run", "--epochs", "1", *SMALL)
    assert result.exit_code == 0, result.output
    result = run_cli("eval", tmp_path / "run", "--data-dir", data, "-n", "32", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["translates"] and {"l1", "psnr", "ssim", "class_accuracy"} <= set(
        report["generator"])
    text = run_cli("eval", tmp_path / "run", "--data-dir", data, "-n", "32").output
    assert "translations show their source's class in" in text and "SSIM" in text


def paired_folder(root, n=12, layout="side-by-side"):
    """Generated pairs: A a bright square somewhere, B the same square filled dark on grey;
    under train/ and val/, as pix2pix's datasets."""
    gen = torch.Generator().manual_seed(0)
    for split, count in (("train", n), ("val", 4)):
        for i in range(count):
            a = Image.new("RGB", (48, 48), (0, 0, 0))
            b = Image.new("RGB", (48, 48), (128, 128, 128))
            x, y = (int(v) for v in torch.randint(0, 32, (2,), generator=gen))
            a.paste((255, 255, 255), (x, y, x + 16, y + 16))
            b.paste((20, 40, 200), (x, y, x + 16, y + 16))
            if layout == "side-by-side":
                both = Image.new("RGB", (96, 48))
                both.paste(a, (0, 0))
                both.paste(b, (48, 0))
                (root / split).mkdir(parents=True, exist_ok=True)
                both.save(root / split / f"{i:03d}.jpg")
            else:
                for side, image in (("A", a), ("B", b)):
                    (root / split / side).mkdir(parents=True, exist_ok=True)
                    image.save(root / split / side / f"{i:03d}.png")
    return root


def unpaired_folder(root):
    gen = torch.Generator().manual_seed(1)
    for folder, count, colour in (("trainA", 10, (255, 0, 0)), ("trainB", 7, (0, 0, 255)),
                                  ("testA", 3, (255, 0, 0)), ("testB", 3, (0, 0, 255))):
        (root / folder).mkdir(parents=True)
        for i in range(count):
            image = Image.new("RGB", (40, 40), (30, 30, 30))
            x, y = (int(v) for v in torch.randint(0, 24, (2,), generator=gen))
            image.paste(colour, (x, y, x + 12, y + 12))
            image.save(root / folder / f"{i}.png")
    return root


FOLDER = ("--set", "dataset.resolution=32", "--set", "batch_size=4", "--set",
          "generator.width=4", "--set", "discriminator.width=4", "--set", "sample_every=1",
          "--set", "ema=0.9", "--set", "jitter=4", "--checkpoint-every", "0", "--quiet")


@pytest.mark.parametrize("preset", ["pix2pix-folder", "cyclegan-folder"])
def test_folder_presets_train_at_32_px_resume_bitwise_and_translate(preset, tmp_path,
                                                                     fake_weights):
    folder = (paired_folder(tmp_path / "pairs") if preset.startswith("pix2pix")
              else unpaired_folder(tmp_path / "domains"))
    extra = () if preset.startswith("pix2pix") else ("--set", "generator.blocks=1")
    (tmp_path / "data").mkdir()
    args = ("--data-dir", tmp_path / "data", "--set", f"dataset.path={folder}", *FOLDER,
            *extra)
    a, b = straight_and_resumed(tmp_path, preset, *args)
    split = tmp_path / "split"
    assert any(k.startswith("generator_ema.") for k in a)  # both directions' EMA
    images = list((folder / ("val" if preset.startswith("pix2pix") else "testA")).iterdir())
    result = run_cli("translate", split, *images, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "out").glob("*.png"))
    assert [p.stem for p in written] == sorted(p.stem for p in images)
    with Image.open(written[0]) as image:
        assert image.size == (32, 32) and image.mode == "RGB"
    if preset.startswith("pix2pix"):  # unlabelled: scored on Inception's features
        result = run_cli("eval", split, "--data-dir", tmp_path / "data", "--inception-weights",
                         fake_weights, "-n", 4)
        assert result.exit_code == 0, result.output
        assert "4 samples scored by inception-v3" in result.output and "SSIM" in result.output
        assert "translations show" not in result.output  # ImageNet's classes are not these


def test_a_paired_folder_holds_pairs_side_by_side_or_as_matching_folders(tmp_path):
    from ganzoo_translate.folders import PairedFolder, UnpairedFolder

    side = PairedFolder(str(paired_folder(tmp_path / "one")), resolution=16)
    apart = PairedFolder(str(paired_folder(tmp_path / "two", layout="folders")),
                         resolution=16)
    x, labels = side.load("train", tmp_path / "data")
    y, _ = apart.load("train", tmp_path / "data")
    assert x.shape == y.shape == (12, 6, 16, 16) and side.load("test", tmp_path / "data")[
        0].shape == (4, 6, 16, 16)
    assert (x.float() - y.float()).abs().mean() < 8  # JPEG beside PNG: the same pairs
    a, b = pairs.split(x)
    assert a.float().mean() < b.float().mean()  # A black with a square, B grey
    domains = UnpairedFolder(str(unpaired_folder(tmp_path / "three")), resolution=16)
    u, _ = domains.load("train", tmp_path / "data")
    assert u.shape == (10, 6, 16, 16)  # as many as the larger domain
    a, b = pairs.split(u)
    assert (a[:, 0] > a[:, 2]).any() and (b[:, 2] > b[:, 0]).any()  # red A, blue B


def test_a_paired_folder_whose_sides_do_not_match_is_one_error_naming_it(tmp_path):
    folder = paired_folder(tmp_path / "pairs", layout="folders")
    (folder / "train" / "B" / "005.png").rename(folder / "train" / "B" / "099.png")
    (tmp_path / "data").mkdir()
    result = run_cli("train", "pix2pix-folder", "--data-dir", tmp_path / "data", "--out",
                     tmp_path / "run", "--set", f"dataset.path={folder}", *FOLDER)
    assert_clean_error(result, "does not match", "A/005.png has no B/005.png",
                       "2 files without a partner")
    assert result.output.count("Error") == 1 and result.exit_code == 2
    assert not (tmp_path / "run").exists() and not list((tmp_path / "data").iterdir())


# -- a third variant of the family, as a third-party plugin would write it: public API only
DISCOGAN = '''
import torch
from torch import nn

import ganzoo
from ganzoo import pairs


def encoder_decoder(channels, width):
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh())


class DiscoGenerator(ganzoo.Translator):
    """DiscoGAN's two generators (Kim et al. 2017): (G_BA(B), G_AB(A))."""

    directions = ("AB", "BA")

    def __init__(self, out_shape=(2, 32, 32), width=8):
        super().__init__(out_shape)
        self.ab = encoder_decoder(self.image_shape[0], width)
        self.ba = encoder_decoder(self.image_shape[0], width)

    def forward(self, x, labels=None):
        a, b = pairs.split(x)
        return pairs.join(self.ba(b), self.ab(a))


class DiscoDiscriminator(ganzoo.Discriminator):
    """A conv D per domain: one logit each, (N, 2)."""

    logits_shape = (2,)

    def __init__(self, in_shape=(2, 32, 32), width=8):
        super().__init__(in_shape)
        c, h, _ = self.in_shape
        self.nets = nn.ModuleList(nn.Sequential(
            nn.Conv2d(c // 2, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
            nn.Linear(width * (h // 2) ** 2, 1)) for _ in range(2))

    def forward(self, x, labels=None):
        return torch.cat([net(side) for net, side in zip(self.nets, pairs.split(x))], 1)


class DiscoGAN(ganzoo.Objective):
    """The GAN loss per domain and the reconstruction loss, ||G_BA(G_AB(A)) - A||^2 + ..."""

    def __init__(self, reconstruction=1.0):
        self.reconstruction = float(reconstruction)

    def d_loss(self, ctx):
        return ganzoo.non_saturating_d(ctx.real_out.logits, ctx.fake_out.logits)

    def g_loss(self, ctx):
        cycle = (ctx.g(ctx.fake) - ctx.real).square().mean()
        return ganzoo.non_saturating_g(ctx.fake_out.logits) + self.reconstruction * cycle


@ganzoo.hookimpl
def ganzoo_register_generators(register):
    register("disco-g", DiscoGenerator, summary="DiscoGAN's two generators")


@ganzoo.hookimpl
def ganzoo_register_discriminators(register):
    register("disco-d", DiscoDiscriminator, summary="DiscoGAN's D per domain")


@ganzoo.hookimpl
def ganzoo_register_losses(register):
    register("discogan", DiscoGAN, summary="DiscoGAN: GAN per domain + reconstruction")
'''

DISCOGAN_PRESET = '''
name = "discogan-mnist-restyle"
summary = "DiscoGAN on thin and thick digits"
generator = { name = "disco-g" }
discriminator = { name = "disco-d" }
loss = { name = "discogan" }
dataset = { name = "mnist-restyle" }

[train]
batch_size = 16
lr_g = 0.0002
lr_d = 0.0002
beta1 = 0.5
sample_every = 1
'''


@pytest.mark.parametrize("population", [None, 2])
def test_a_third_party_discogan_plugin_trains_resumes_and_translates(data, tmp_path,
                                                                   population):
    module = types.ModuleType("ganzoo_disco.plugin")
    exec(DISCOGAN, module.__dict__)
    preset = tmp_path / "discogan.toml"
    preset.write_text(DISCOGAN_PRESET)
    members = ("--population", population) if population else ()
    with ganzoo.in_process_plugin(module, "disco") as registry:
        assert registry.warnings == []
        for args in (("--out", tmp_path / "a", "--epochs", 2, *members),
                     ("--out", tmp_path / "b", "--epochs", 1, *members),
                     ("--resume", tmp_path / "b", "--epochs", 2)):
            first = (preset,) if args[0] == "--out" else ()
            result = run_cli("train", *first, "--data-dir", data, *args,
                             "--checkpoint-every", 0)
            assert result.exit_code == 0, result.output
            assert "in turn" not in result.output
        a, b = (tensors(sorted((tmp_path / r / "checkpoints").glob("*.safetensors"))[-1])
                for r in "ab")
        assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []
        if population is None:
            run = ganzoo.load(tmp_path / "b")
            thick = run.translate(torch.zeros(2, 1, 32, 32))
            thin = run.translate(thick, "BA")
            assert thick.shape == thin.shape == (2, 1, 32, 32)


def test_the_papers_datasets_name_where_to_put_them_offline_and_read_them_there(
        tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    from ganzoo_translate.papers import Facades, HorseToZebra

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    root = tmp_path / "data"
    with pytest.raises(ganzoo.DataError, match=r"download http.*facades.tar.gz and unpack it "
                                               r"into .*translation/facades"):
        Facades(resolution=16).load("train", root)
    assert not list((root / "translation").iterdir())  # nothing half-written
    paired_folder(root / "translation" / "facades")
    unpaired_folder(root / "translation" / "horse2zebra")
    facades, _ = Facades(resolution=16).load("test", root)
    forward = Facades(resolution=16, reverse=False).load("test", root)[0]
    assert facades.shape == (4, 6, 16, 16) and torch.equal(facades, pairs.swap(forward))
    assert HorseToZebra(resolution=16).load("train", root)[0].shape == (10, 6, 16, 16)
