"""pix2pix's and CycleGAN's objectives, on :class:`ganzoo.Translator`'s pairs."""

from __future__ import annotations

import torch
from torch import Tensor

from ganzoo import ConfigError, Objective, StepContext, non_saturating_d, non_saturating_g, pairs


def l1(made: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference, per side of the pairs: (2,), A's then B's."""
    return torch.stack([d.abs().mean() for d in pairs.split(made - target)])


class Pix2Pix(Objective):
    """pix2pix (Isola et al. 2017): a conditional GAN on (source, image) pairs -- D, a
    PatchGAN of pairs, judges (A, B) against (A, G(A)) patch by patch -- and the L1
    distance of the translation to the target. D: (BCE(D(A, B), 1) + BCE(D(A, G(A)), 0))
    / 2; G: BCE(D(A, G(A)), 1) + l1 |G(A) - B|_1. The paper: l1 = 100."""

    def __init__(self, l1: float = 100.0) -> None:
        if not l1 >= 0:
            raise ValueError(f"l1 must be >= 0, got {l1}")
        self.l1 = float(l1)

    def d_loss(self, ctx: StepContext) -> Tensor:
        return non_saturating_d(ctx.real_out.logits, ctx.fake_out.logits) / 2

    def g_loss(self, ctx: StepContext) -> Tensor:
        return (non_saturating_g(ctx.fake_out.logits)
                + self.l1 * l1(ctx.fake.float(), ctx.real)[1])


def per_domain(logits: Tensor) -> Tensor:
    """Logits (N, 2, ...) of a D per domain -> their means (2,); refuses any other shape."""
    if logits.ndim < 2 or logits.shape[1] != 2:
        raise ConfigError(f"cyclegan needs a discriminator per domain, logits (N, 2, ...) "
                          f"(patchgan with judge=domains); got {tuple(logits.shape)}")
    return logits.transpose(0, 1).flatten(1).mean(1)


class CycleGAN(Objective):
    """CycleGAN (Zhu et al. 2017) on a translator of both directions and a D per domain:
    least-squares GAN losses per domain, the cycle loss ``cycle`` (|G_BA(G_AB(A)) - A| +
    |G_AB(G_BA(B)) - B|) and the identity loss ``identity`` x ``cycle`` (|G_BA(A) - A| +
    |G_AB(B) - B|). D judges its fakes through a ``pool`` of 50 earlier ones (Shrivastava
    et al. 2017): state on the device, checkpointed. The paper: cycle 10, identity 0.5."""

    def __init__(self, cycle: float = 10.0, identity: float = 0.5, pool: int = 50) -> None:
        if not (cycle >= 0 and identity >= 0):
            raise ValueError(f"cycle and identity must be >= 0, got {cycle}, {identity}")
        if not (isinstance(pool, int) and pool >= 0):
            raise ValueError(f"pool is a number of images >= 0 (0: none), got {pool!r}")
        self.cycle, self.identity, self.pool = float(cycle), float(identity), pool

    def initial_state(self, generator, discriminator) -> dict[str, Tensor]:
        if "BA" not in getattr(generator, "directions", ()):
            raise ConfigError("cyclegan needs a generator that translates both ways "
                              "(directions=both)")
        if discriminator.logits_shape[:1] != (2,):
            raise ConfigError(f"cyclegan needs a discriminator per domain, logits (2, ...) "
                              f"(patchgan with judge=domains); got "
                              f"{discriminator.logits_shape}")
        if not self.pool:
            return {}
        return {"pool": torch.zeros(self.pool + 1, *generator.out_shape, dtype=torch.int16),
                "pooled": torch.zeros((), dtype=torch.int64)}

    def d_loss(self, ctx: StepContext) -> Tensor:
        if not self.pool:
            real, fake = ctx.real_out.logits, ctx.fake_out.logits
        else:
            shown = draw_from_pool(ctx.state["pool"], ctx.state["pooled"], ctx.fake)
            real, fake = ctx.d(torch.cat([ctx.real, shown])).logits.split(len(ctx.real))
        return ((per_domain((real - 1).square()) + per_domain(fake.square())) / 2).sum()

    def g_loss(self, ctx: StepContext) -> Tensor:
        loss = per_domain((ctx.fake_out.logits - 1).square()).sum()
        if self.cycle:
            loss = loss + self.cycle * l1(ctx.g(ctx.fake), ctx.real).sum()
        if self.cycle and self.identity:
            loss = loss + self.identity * self.cycle * l1(ctx.g(pairs.swap(ctx.real)),
                                                          ctx.real).sum()
        return loss


SCALE = 32767  # the pool keeps images as int16: not float state, which DDP would average


def draw_from_pool(pool: Tensor, pooled: Tensor, fakes: Tensor) -> Tensor:
    """CycleGAN's history of fakes, updated in place on the device: while the pool fills,
    each fake is stored and shown; once full, each is shown with probability 1/2 or else
    swapped for a stored one, which it replaces. The swaps of one batch go to distinct
    slots (rows past the pool's size are shown as they are); the last row of ``pool`` takes
    the writes of fakes not stored."""
    size, n = pool.shape[0] - 1, fakes.shape[0]
    rows = torch.arange(n, device=fakes.device)
    full = pooled >= size
    swap = full & (torch.rand(n, device=fakes.device) < 0.5) & (rows < size)
    store = torch.where(full, swap, pooled + rows < size)
    anywhere = torch.rand(size, device=fakes.device).argsort()[rows % size]
    slot = torch.where(store, torch.where(full, anywhere, pooled + rows), size)
    stored = pool[slot].to(fakes.dtype) / SCALE
    shown = torch.where(swap.view(-1, *(1,) * (fakes.ndim - 1)), stored, fakes)
    pool.index_put_((slot,), (fakes.clamp(-1, 1) * SCALE).round().to(pool.dtype))
    pool[size].zero_()  # which of the writes it took is undefined: keep the state exact
    pooled.copy_((pooled + n).clamp(max=size))
    return shown
