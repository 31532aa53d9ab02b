"""Variants whose losses need more than (real logits, fake logits): objectives on the step's
context (``ganzoo.Objective``). Notation: C(x) is D's raw logit, x real, x~ = G(z) fake,
E the batch mean, s the sigmoid."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganzoo import (
    UNLABELED,
    Lazy,
    Network,
    Objective,
    as_output,
    mlp_layers,
    non_saturating_d,
    non_saturating_g,
    wasserstein_d,
    wasserstein_g,
)

from .models import conv_encoder


class WGAN(Objective):
    """WGAN (Arjovsky et al. 2017): D: E C(x~) - E C(x); G: -E C(x~); every D weight is
    clipped to [-clip, clip] after each D update."""

    def __init__(self, clip: float = 0.01) -> None:
        if not clip > 0:
            raise ValueError(f"clip must be > 0, got {clip}")
        self.clip = float(clip)

    def d_loss(self, ctx) -> Tensor:
        return wasserstein_d(ctx.real_out.logits, ctx.fake_out.logits)

    def g_loss(self, ctx) -> Tensor:
        return wasserstein_g(ctx.fake_out.logits)

    @torch.no_grad()
    def after_d_update(self, ctx) -> None:
        for p in ctx.discriminator.parameters():  # out of place: vmap batches clamp, not clamp_
            p.copy_(p.clamp(-self.clip, self.clip))


class RelativisticAverage(Objective):
    """RaGAN (Jolicoeur-Martineau 2019), on the non-saturating loss:
    D: -E log s(C(x) - E C(x~)) - E log(1 - s(C(x~) - E C(x)));
    G: -E log s(C(x~) - E C(x)) - E log(1 - s(C(x) - E C(x~))).
    G's loss reads the real logits, through which no gradient reaches G."""

    @staticmethod
    def _loss(first: Tensor, second: Tensor) -> Tensor:
        # the non-saturating D loss on the logits relative to the other side's mean
        return non_saturating_d(first - second.mean(), second - first.mean())

    def d_loss(self, ctx) -> Tensor:
        return self._loss(ctx.real_out.logits, ctx.fake_out.logits)

    def g_loss(self, ctx) -> Tensor:
        return self._loss(ctx.fake_out.logits, ctx.real_out.logits.detach())


def pairing(winner: Tensor, loser: Tensor) -> Tensor:
    """The relativistic pairing loss E softplus(-(C(winner) - C(loser))), pair by pair."""
    return F.softplus(-(winner - loser)).mean()


class RelativisticPairing(Objective):
    """R3GAN's loss (Huang et al. 2024): the relativistic pairing GAN with zero-centred
    gradient penalties on real (R1) and fake (R2) data, over pairs (x_i, x~_i):
    D: E softplus(-(C(x) - C(x~))) + gamma/2 (E |grad C(x)|^2 + E |grad C(x~)|^2);
    G: E softplus(-(C(x~) - C(x))). With ``every`` > 1 the penalties are lazy: they run
    every ``every`` D updates, weighted by ``every`` (a CUDA graph replays the steps
    between). With ``gamma_end`` and ``decay_images``, gamma follows the paper's cosine
    schedule from ``gamma`` to ``gamma_end`` over the first ``decay_images`` images D sees,
    then stays; it lives in the run's state (``state_gamma`` in its records). The penalties
    take D's gradient with respect to its input, which vmap cannot: a population trains its
    members one after another."""

    def __init__(self, gamma: float = 0.05, every: int = 1, gamma_end: float | None = None,
                 decay_images: float = 0) -> None:
        if not gamma >= 0 or not (gamma_end is None or gamma_end >= 0):
            raise ValueError(f"gamma and gamma_end must be >= 0, got {gamma}, {gamma_end}")
        if (gamma_end is None) != (not decay_images) or decay_images < 0:
            raise ValueError("a gamma schedule needs both gamma_end and decay_images > 0")
        self.gamma, self.every = float(gamma), int(every)
        self.gamma_end, self.decay_images = gamma_end, float(decay_images)
        self.lazy = {"penalty": Lazy("d", self.every)}

    def initial_state(self, generator, discriminator) -> dict[str, Tensor]:
        if self.gamma_end is None:
            return {}
        return {"gamma": torch.tensor(self.gamma), "images": torch.tensor(0.0)}

    def d_loss(self, ctx) -> Tensor:
        if not ((self.gamma or self.gamma_end) and ctx.due("penalty")):
            return pairing(ctx.real_out.logits, ctx.fake_out.logits)
        real = ctx.real.detach().requires_grad_(True)
        fake = ctx.fake.detach().float().requires_grad_(True)
        # two passes: a batch-norm D must not mix real and fake statistics
        real_logits, fake_logits = ctx.d(real).logits, ctx.d(fake).logits
        r1, r2 = torch.autograd.grad((real_logits.sum(), fake_logits.sum()), (real, fake),
                                     create_graph=True)
        penalty = r1.square().flatten(1).sum(1).mean() + r2.square().flatten(1).sum(1).mean()
        gamma = self.gamma if self.gamma_end is None else ctx.state["gamma"]
        return pairing(real_logits, fake_logits) + self.every * gamma / 2 * penalty

    def g_loss(self, ctx) -> Tensor:
        return pairing(ctx.fake_out.logits, ctx.real_out.logits)

    @torch.no_grad()
    def after_d_update(self, ctx) -> None:
        if self.gamma_end is None:
            return
        seen = ctx.state["images"]
        seen.copy_(seen + ctx.real.shape[0])
        progress = (seen / self.decay_images).clamp(max=1.0)
        cosine = (1 + torch.cos(math.pi * progress)) / 2  # 1 -> 0
        ctx.state["gamma"].copy_(self.gamma_end + (self.gamma - self.gamma_end) * cosine)


class SoftmaxGAN(Objective):
    """Softmax GAN (Lin 2017). C is an energy (low = real); with Z = sum over the real batch
    B+ and the fake batch B- of exp(-C): D: mean_{B+} C + ln Z; G: mean_{B+ and B-} C + ln Z.
    G's loss reads the real logits."""

    def d_loss(self, ctx) -> Tensor:
        real, fake = ctx.real_out.logits, ctx.fake_out.logits
        return real.mean() + torch.logsumexp(-torch.cat([real, fake]), 0)

    def g_loss(self, ctx) -> Tensor:
        both = torch.cat([ctx.real_out.logits.detach(), ctx.fake_out.logits])
        return both.mean() + torch.logsumexp(-both, 0)


class AuxiliaryClassifier(Objective):
    """ACGAN (Odena et al. 2017): D returns a source logit and class logits. D: the BCE
    source loss (real 1, fake 0) + CE of the class logits on real images (their labels) and
    on fakes (the labels G was given); G: the non-saturating source loss + CE of the class
    logits on its fakes. ``class_weight`` scales the class terms."""

    def __init__(self, class_weight: float = 1.0) -> None:
        self.class_weight = float(class_weight)

    def d_loss(self, ctx) -> Tensor:
        real, fake = ctx.real_out, ctx.fake_out
        source = non_saturating_d(real.logits, fake.logits)
        classes = (F.cross_entropy(real.class_logits, ctx.labels)
                   + F.cross_entropy(fake.class_logits, ctx.labels))
        return source + self.class_weight * classes

    def g_loss(self, ctx) -> Tensor:
        fake = ctx.fake_out
        return (non_saturating_g(fake.logits)
                + self.class_weight * F.cross_entropy(fake.class_logits, ctx.labels))


class InfoGAN(Objective):
    """InfoGAN (Chen et al. 2016) on the non-saturating loss. G's noise ends in structured
    codes c (an ``infogan`` generator: c1 categorical, c2... continuous); a Q head on D's
    features predicts them, and both updates add the information loss
    ``cat_weight * CE(Q_c1, c1) + cont_weight * sum_j (Q_cj - cj)^2 / 2``: -L_I, the
    variational bound on I(c; G(z, c)), up to the codes' entropy and Gaussian constants
    (unit variance). Q shares D's body and trains with D; G minimises the same term.
    """

    def __init__(self, cat_weight: float = 1.0, cont_weight: float = 0.1,
                 hidden: int = 128) -> None:
        self.cat_weight, self.cont_weight, self.hidden = (float(cat_weight),
                                                          float(cont_weight), int(hidden))

    def networks(self, generator, discriminator) -> dict[str, Network]:
        if not hasattr(generator, "categorical"):
            raise ValueError("InfoGAN needs a generator with latent codes (generator "
                             "'infogan')")
        self.offset = generator.noise_dim
        self.categorical, self.continuous = generator.categorical, generator.continuous
        mode = discriminator.training
        with torch.no_grad():
            out = as_output(discriminator.eval()(torch.zeros(2, *discriminator.in_shape)))
        discriminator.train(mode)
        if out.features is None:
            raise ValueError("InfoGAN's Q head reads D's features: use a discriminator that "
                             "returns them (dcgan: return_features = true)")
        q = nn.Sequential(nn.Linear(out.features.shape[1], self.hidden),
                          nn.BatchNorm1d(self.hidden), nn.LeakyReLU(0.2),
                          nn.Linear(self.hidden, self.categorical + self.continuous))
        return {"q": Network("d", q)}

    def information_loss(self, q: Tensor, codes: Tensor) -> Tensor:
        """-L_I (up to constants) for Q's outputs ``q`` and the codes G was given."""
        k = self.categorical
        loss = q.new_zeros(())
        if k:
            loss = loss + self.cat_weight * F.cross_entropy(q[:, :k], codes[:, :k].argmax(1))
        if self.continuous:
            loss = loss + self.cont_weight * (q[:, k:] - codes[:, k:]).square().sum(1).mean() / 2
        return loss

    def _info(self, ctx) -> Tensor:
        return self.information_loss(ctx.nets["q"](ctx.fake_out.features),
                                     ctx.noise[:, self.offset:])

    def d_loss(self, ctx) -> Tensor:
        return non_saturating_d(ctx.real_out.logits, ctx.fake_out.logits) + self._info(ctx)

    def g_loss(self, ctx) -> Tensor:
        return non_saturating_g(ctx.fake_out.logits) + self._info(ctx)


class ClusterGAN(Objective):
    """ClusterGAN (Mukherjee et al. 2019) on the non-saturating loss. G's noise is
    [z_n ~ N(0, sigma^2), one-hot z_c] (an ``infogan`` generator with ``sigma``); an encoder
    E inverts G, trained with G: G and E minimise ``beta_n * |E_n(G(z)) - z_n|^2 +
    beta_c * CE(E_c(G(z)), z_c)`` beside G's adversarial loss. E_c assigns real images to
    clusters: ``ganzoo eval`` reports their purity against the labels."""

    def __init__(self, beta_n: float = 10.0, beta_c: float = 10.0, base: int = 64) -> None:
        self.beta_n, self.beta_c, self.base = float(beta_n), float(beta_c), int(base)

    def networks(self, generator, discriminator) -> dict[str, Network]:
        if not getattr(generator, "categorical", 0) or generator.continuous:
            raise ValueError("ClusterGAN needs an 'infogan' generator with a categorical code "
                             "and no continuous ones (continuous = 0)")
        self.noise_dim, self.categorical = generator.noise_dim, generator.categorical
        encoder = conv_encoder(generator.out_shape, self.noise_dim + self.categorical,
                               self.base)
        return {"encoder": Network("g", encoder)}

    def d_loss(self, ctx) -> Tensor:
        return non_saturating_d(ctx.real_out.logits, ctx.fake_out.logits)

    def g_loss(self, ctx) -> Tensor:
        n = self.noise_dim
        code = ctx.nets["encoder"](ctx.fake).float()
        inverse = (self.beta_n * F.mse_loss(code[:, :n], ctx.noise[:, :n])
                   + self.beta_c * F.cross_entropy(code[:, n:], ctx.noise[:, n:].argmax(1)))
        return non_saturating_g(ctx.fake_out.logits) + inverse

    def clusters(self, networks, images: Tensor) -> Tensor:
        return networks["encoder"](images)[:, self.noise_dim:].argmax(1)


class AdversarialAutoencoder(Objective):
    """The adversarial autoencoder (Makhzani et al. 2016) as PyTorch-GAN trains it. An
    encoder E maps an image to a Gaussian posterior q(z|x), drawn by reparameterisation; G
    is the decoder; a D on codes (an objective network: the preset's discriminator is
    ``none``) tells the prior's draws -- G's noise -- from E's codes. G and E minimise
    ``adversarial * BCE(D(E(x)), 1) + reconstruction * |G(E(x)) - x|_1``; D minimises
    ``(BCE(D(z), 1) + BCE(D(E(x)), 0)) / 2``. Once q(z) matches the prior, G draws digits
    from the prior's noise like any generator. (The engine's G(z) each update goes
    unused: an MLP's forward pass.)"""

    def __init__(self, adversarial: float = 0.001, reconstruction: float = 0.999,
                 hidden: int = 512, slope: float = 0.2) -> None:
        self.adversarial, self.reconstruction = float(adversarial), float(reconstruction)
        self.hidden, self.slope = int(hidden), float(slope)

    def networks(self, generator, discriminator) -> dict[str, Network]:
        z, h = generator.z_dim, self.hidden
        image = math.prod(generator.out_shape)
        encoder = nn.Sequential(nn.Flatten(), *mlp_layers([image, h, h, 2 * z], self.slope))
        critic = nn.Sequential(*mlp_layers([z, h, h // 2, 1], self.slope), nn.Flatten(0))
        return {"encoder": Network("g", encoder), "critic": Network("d", critic)}

    def encode(self, ctx) -> Tensor:
        """A draw from E's posterior for each real image."""
        mean, log_var = ctx.nets["encoder"](ctx.real).float().chunk(2, dim=1)
        return mean + torch.randn_like(mean) * (0.5 * log_var).exp()

    def d_loss(self, ctx) -> Tensor:
        codes = self.encode(ctx).detach()
        prior = ctx.noise.float()  # one pass of D over both (DDP allows one per update)
        out = ctx.nets["critic"](torch.cat([prior, codes]))
        real, fake = out.split([prior.shape[0], codes.shape[0]])
        return non_saturating_d(real, fake) / 2

    def g_loss(self, ctx) -> Tensor:
        codes = self.encode(ctx)
        recon = F.l1_loss(ctx.g(codes), ctx.real.float())
        return (self.adversarial * non_saturating_g(ctx.nets["critic"](codes))
                + self.reconstruction * recon)


def energy(out) -> Tensor:
    """The batch mean of an autoencoder D's energy (its logits are minus the energy)."""
    return -out.logits.mean()


class BEGAN(Objective):
    """BEGAN (Berthelot et al. 2017) with an autoencoder D whose energy is L(v) = mean
    |v - AE(v)|: D: L(x) - k L(x~); G: L(x~). After each D update, with that update's
    losses, k <- clip(k + lambda_k (gamma L(x) - L(x~)), 0, 1) and the convergence measure
    M = L(x) + |gamma L(x) - L(x~)|; both persist on the device (the run's records show
    their values at each epoch's end as ``state_k`` and ``state_convergence``)."""

    def __init__(self, gamma: float = 0.5, lambda_k: float = 0.001, k0: float = 0.0) -> None:
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        if not 0 <= k0 <= 1:
            raise ValueError(f"k0 must be in [0, 1], got {k0}")
        self.gamma, self.lambda_k, self.k0 = float(gamma), float(lambda_k), float(k0)

    def initial_state(self, generator, discriminator) -> dict[str, Tensor]:
        return {"k": torch.tensor(self.k0), "convergence": torch.tensor(0.0)}

    def d_loss(self, ctx) -> Tensor:
        return energy(ctx.real_out) - ctx.state["k"] * energy(ctx.fake_out)

    def g_loss(self, ctx) -> Tensor:
        return energy(ctx.fake_out)

    @torch.no_grad()
    def after_d_update(self, ctx) -> None:
        real, fake = energy(ctx.real_out), energy(ctx.fake_out)  # from before D's step
        balance = self.gamma * real - fake
        k = ctx.state["k"]
        k.copy_((k + self.lambda_k * balance).clamp(0.0, 1.0))
        ctx.state["convergence"].copy_(real + balance.abs())


def pull_away(embeddings: Tensor) -> Tensor:
    """EBGAN's pull-away term: the mean squared cosine similarity over pairs i != j."""
    n = embeddings.shape[0]
    unit = F.normalize(embeddings, dim=1)
    cosines = unit @ unit.T
    return (cosines.square().sum() - cosines.diagonal().square().sum()) / (n * (n - 1))


class EBGAN(Objective):
    """EBGAN (Zhao et al. 2017) with an autoencoder D of energy E(v) = mean (AE(v) - v)^2:
    D: E E(x) + E max(0, m - E(x~)) (each image's hinge); G: E E(x~) + pt_weight f_PT(S),
    the pull-away term over the encoder embeddings S of the fake batch."""

    def __init__(self, margin: float = 1.0, pt_weight: float = 0.1) -> None:
        if not margin > 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.margin, self.pt_weight = float(margin), float(pt_weight)

    def d_loss(self, ctx) -> Tensor:
        return energy(ctx.real_out) + F.relu(self.margin + ctx.fake_out.logits).mean()

    def g_loss(self, ctx) -> Tensor:
        loss = energy(ctx.fake_out)
        if self.pt_weight:
            loss = loss + self.pt_weight * pull_away(ctx.fake_out.features)
        return loss


def labelled_cross_entropy(class_logits: Tensor, labels: Tensor) -> Tensor:
    """The mean cross-entropy over the images whose label is known (0 when none is): a
    mask, not an index, so the shapes stay fixed and nothing is read back to the host."""
    known = labels != UNLABELED
    losses = F.cross_entropy(class_logits, labels.clamp(min=0), reduction="none")
    return (losses * known).sum() / known.sum().clamp(min=1)


class SemiSupervised(Objective):
    """Semi-supervised GAN (Odena 2016; Salimans et al. 2016): D's class logits classify
    the labelled real images while its real/fake logit (log sum exp of the class logits in
    the ``logits_from_classes`` D, so p(real) = Z / (Z + 1)) tells real from fake. D: the
    unsupervised BCE on every real and fake image + ``supervised_weight`` x the
    cross-entropy on the labelled real images only (a dataset's ``labeled_per_class``
    marks the rest UNLABELED); G: the non-saturating loss."""

    def __init__(self, supervised_weight: float = 1.0) -> None:
        self.supervised_weight = float(supervised_weight)

    def d_loss(self, ctx) -> Tensor:
        real, fake = ctx.real_out, ctx.fake_out
        return (non_saturating_d(real.logits, fake.logits)
                + self.supervised_weight * labelled_cross_entropy(real.class_logits,
                                                                  ctx.labels))

    def g_loss(self, ctx) -> Tensor:
        return non_saturating_g(ctx.fake_out.logits)
