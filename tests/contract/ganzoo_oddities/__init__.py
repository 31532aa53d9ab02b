"""A third-party plugin with one component of every kind, each legal but unusual, written
against the public contract only (``import ganzoo``): what tests/contract checks trains
solo and as a population, resumes bit for bit and samples."""

from pathlib import Path

import torch
from torch import nn

import ganzoo

SIDE = 8  # 8x8 grayscale images: every step is cheap


class Bars(ganzoo.Dataset):
    """Synthetic 8x8 images of one bright column (the label); needs no files."""

    name = "bars"
    sample_shape = (1, SIDE, SIDE)
    num_classes = SIDE
    evaluator = "bars-probe"

    def load(self, split, root):
        n = 256 if split == "train" else 64
        labels = torch.arange(n) % SIDE
        images = torch.zeros(n, 1, SIDE, SIDE, dtype=torch.uint8)
        images[torch.arange(n), 0, :, labels] = 255
        return images, labels


class UniformPrior(ganzoo.Generator):
    """Uniform noise in [-1, 1] (its own prior), a buffer scaling the output, one layer."""

    def __init__(self, z_dim: int = 8) -> None:
        super().__init__(z_dim, (1, SIDE, SIDE))
        self.net = nn.Sequential(nn.Linear(z_dim, 32), nn.ReLU(), nn.Linear(32, SIDE * SIDE))
        self.register_buffer("gain", torch.tensor(1.5))

    def sample_noise(self, n, device=None):
        return torch.rand(n, self.z_dim, device=device) * 2 - 1

    def forward(self, z, labels=None):
        return torch.tanh(self.gain * self.net(z)).view(-1, 1, SIDE, SIDE)


class Critic(ganzoo.Discriminator):
    def __init__(self) -> None:
        super().__init__((1, SIDE, SIDE))
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 32), nn.LeakyReLU(0.2),
                                 nn.Linear(32, 1))

    def forward(self, x, labels=None):
        return self.net(x).squeeze(1)


class LazyHead(ganzoo.Objective):
    """The non-saturating GAN, a bare ``nn.Linear`` head on D's side matched between real
    and fake, a logit penalty that runs every ``every`` D updates (weighted by ``every``, as
    lazy regularisation is) and an EMA of the real logits in its state (LeCam's anchor)."""

    def __init__(self, every: int = 4, weight: float = 0.1) -> None:
        self.every, self.weight = every, weight
        self.lazy = {"penalty": ganzoo.Lazy("d", every)}

    def networks(self, generator, discriminator):
        return {"head": ganzoo.Network("d", nn.Linear(SIDE * SIDE, 1))}

    def initial_state(self, generator, discriminator):
        return {"anchor": torch.zeros(()), "lazy_runs": torch.zeros(())}

    def d_loss(self, ctx: ganzoo.StepContext):
        real, fake = ctx.real_out.logits, ctx.fake_out.logits
        head = ctx.nets["head"]
        loss = ganzoo.non_saturating_d(real, fake) + self.weight * (
            head(ctx.real.flatten(1)) - head(ctx.fake.flatten(1))).pow(2).mean()
        if ctx.due("penalty"):
            ctx.state["lazy_runs"].add_(1)
            loss = loss + self.every * self.weight * (real - ctx.state["anchor"]).pow(2).mean()
        return loss

    def g_loss(self, ctx: ganzoo.StepContext):
        return ganzoo.non_saturating_g(ctx.fake_out.logits)

    def after_d_update(self, ctx: ganzoo.StepContext):
        anchor = ctx.state["anchor"]
        anchor.copy_(0.9 * anchor + 0.1 * ctx.real_out.logits.detach().mean())


class Flip(ganzoo.Augment):
    """A random horizontal flip of half the images (differentiable, from torch's RNG)."""

    def __call__(self, images):
        flip = torch.rand(images.shape[0], 1, 1, 1, device=images.device) < 0.5
        return torch.where(flip, images.flip(-1), images)


class WarmUp(ganzoo.Schedule):
    """By step: from a tenth of the rate to the full rate over ``steps`` steps."""

    unit = "step"

    def __init__(self, steps: int = 12) -> None:
        self.steps = steps

    def factor(self, t, total):
        return 0.1 + 0.9 * min(1.0, t / self.steps)


class TaggedAdam(torch.optim.Adam):
    """Adam with a setting of its own, read at every step."""

    def __init__(self, params, *, lr, betas, capturable=False, tag="default"):
        super().__init__(params, lr=lr, betas=betas, capturable=capturable)
        self.tag = tag

    def step(self, closure=None):
        if self.tag != "odd":
            raise RuntimeError(f"TaggedAdam lost its tag: {self.tag!r}")
        return super().step(closure)


class EpochLog(ganzoo.Callback):
    """Writes one line per epoch into ``epochs.txt`` in the run directory."""

    def on_epoch_end(self, training, record):
        with (training.run_dir.root / "epochs.txt").open("a") as f:
            f.write(f"{record['epoch']}\n")


class Probe(ganzoo.Evaluator):
    epochs, batch_size, lr = 1, 64, 1e-2

    def __init__(self, in_shape, num_classes):
        super().__init__(in_shape, num_classes)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(SIDE * SIDE, 16), nn.ReLU())
        self.head = nn.Linear(16, num_classes)

    def features(self, x):
        return self.body(x)

    def classify(self, features):
        return self.head(features)


@ganzoo.hookimpl
def ganzoo_register_datasets(register):
    register("bars", Bars, summary="8x8 columns (synthetic)")


@ganzoo.hookimpl
def ganzoo_register_generators(register):
    register("uniform-prior", UniformPrior, summary="MLP G with a uniform prior and a buffer")


@ganzoo.hookimpl
def ganzoo_register_discriminators(register):
    register("critic", Critic, summary="a small MLP critic")


@ganzoo.hookimpl
def ganzoo_register_losses(register):
    register("lazy-head", LazyHead, summary="NS GAN + a linear head + a lazy logit penalty")


@ganzoo.hookimpl
def ganzoo_register_augments(register):
    register("flip", Flip, summary="random horizontal flips")


@ganzoo.hookimpl
def ganzoo_register_schedules(register):
    register("warm-up", WarmUp, summary="by step: a tenth to the full rate")


@ganzoo.hookimpl
def ganzoo_register_optimizers(register):
    register("tagged-adam", TaggedAdam, summary="Adam with a tag")


@ganzoo.hookimpl
def ganzoo_register_callbacks(register):
    register("epoch-log", EpochLog, summary="epochs.txt")


@ganzoo.hookimpl
def ganzoo_register_evaluators(register):
    register("bars-probe", Probe, summary="a linear probe of bars")


@ganzoo.hookimpl
def ganzoo_register_presets(register):
    register(Path(__file__).parent / "presets")
