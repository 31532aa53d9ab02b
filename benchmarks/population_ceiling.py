"""How close a population's step comes to a hand-written one, for an MLP preset (CPU).

    python benchmarks/population_ceiling.py [--preset vanilla-mnist] [--size 8] [--rounds 7]

The hand-written step is the least a vectorised step of K MLP GANs can do: each layer one
``baddbmm`` over weights stacked ``[K, in, out]``, D on real and fake images in one pass,
no ``vmap``, fused Adam over the stacked leaves. It starts from the population's weights
and is checked against it (the same losses for a few steps) before anything is timed. The
three steps -- solo (``TrainStep``), population (``PopulationStep``), hand-written -- are
timed in turn in every round, so that a machine whose speed drifts slows them alike; the
ratios are K times the solo step's time over each, per round and the median.

The gap between the population and the hand-written step is what the population's
generality costs; where even the hand-written step stays under a target ratio, reformulating
the population's step will not reach it on that machine.
"""

import argparse
import statistics

import torch
import torch.nn.functional as F
from population import member_step, population_step, random_batch, timed

from ganzoo.api.presets import resolve_preset

CHECKED_STEPS = 5  # the hand-written step must give the population's losses for these

class HandWritten:
    """K MLP GANs (Linear layers, LeakyReLU between, tanh after G) trained with the
    non-saturating BCE loss, in batched matmuls."""

    def __init__(self, pop, slope: float, lr_g: float, lr_d: float, betas) -> None:
        self.g = self._stack(pop.generator.tensors())
        self.d = self._stack(pop.discriminator.tensors())
        self.slope = slope
        self.opt_g = torch.optim.Adam(self.g, lr_g, betas, fused=True)
        self.opt_d = torch.optim.Adam(self.d, lr_d, betas, fused=True)

    @staticmethod
    def _stack(tensors: dict) -> list[torch.nn.Parameter]:
        """[w0, b0, w1, b1, ...]: weights [K, in, out], biases [K, 1, out]; copies, so
        that training one step leaves the other's weights alone."""
        found = []
        for name, t in tensors.items():
            kept = t.detach().transpose(1, 2) if name.endswith("weight") else t.detach()[:, None]
            found.append(torch.nn.Parameter(kept.clone(memory_format=torch.contiguous_format)))
        return found

    def _mlp(self, x, params):
        layers = len(params) // 2
        for j in range(layers):
            x = torch.baddbmm(params[2 * j + 1], x, params[2 * j])
            if j < layers - 1:
                x = F.leaky_relu(x, self.slope)
        return x

    def __call__(self, real, labels, noise):
        fake = torch.tanh(self._mlp(noise, self.g))
        batch = real.shape[1]
        out = self._mlp(torch.cat([real.flatten(2), fake.detach()], 1), self.d)
        loss_d = (F.softplus(-out[:, :batch]).mean((1, 2))
                  + F.softplus(out[:, batch:]).mean((1, 2))) / 2
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.sum().backward()
        self.opt_d.step()
        for p in self.d:
            p.requires_grad_(False)
        loss_g = F.softplus(-self._mlp(fake, self.d)).mean((1, 2))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.sum().backward()
        self.opt_g.step()
        for p in self.d:
            p.requires_grad_(True)
        return torch.stack([loss_d, loss_g], 1).detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vanilla-mnist")
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    preset = resolve_preset(args.preset)
    settings, k = preset.train, args.size
    if settings.n_critic != 1 or settings.ema:
        parser.error("the hand-written step has one D update and no EMA")
    layers = (torch.nn.Linear, torch.nn.LeakyReLU, torch.nn.Tanh, torch.nn.Sequential)

    cpu = torch.device("cpu")
    solo = member_step(preset, 0, cpu)
    for net in (solo.generator, solo.discriminator):
        if not all(isinstance(m, layers) for m in list(net.modules())[1:]):
            parser.error(f"{args.preset}: the hand-written step covers MLPs (Linear, LeakyReLU, "
                         "Tanh) only")
    pop = population_step(preset, k, cpu)
    slopes = {m.negative_slope for m in solo.generator.modules()
              if isinstance(m, torch.nn.LeakyReLU)}
    hand = HandWritten(pop, slopes.pop(), settings.lr_g, settings.lr_d,
                       (settings.beta1, settings.beta2))
    batch = settings.batch_size

    def inputs(size: int | None):
        return random_batch(solo, batch, size, cpu)

    for n in range(CHECKED_STEPS):
        same = inputs(k)
        got, want = hand(*same), pop(*same)
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-6):
            raise SystemExit(f"the hand-written step is not the population's: at step {n}, "
                             f"losses {got[:2].tolist()} against {want[:2].tolist()}; it "
                             "covers MLP presets with the BCE loss only")
    times = {"solo": [], "population": [], "hand-written": []}
    for _ in range(args.rounds):
        times["solo"].append(timed(solo, inputs(None), args.steps, cpu))
        for name, step in (("population", pop), ("hand-written", hand)):
            times[name].append(timed(step, inputs(k), args.steps, cpu))
    print(f"{args.preset}, K={k}, batch {batch}, {torch.get_num_threads()} threads, median "
          f"of {args.rounds} rounds of {args.steps} steps; the hand-written step's losses "
          f"were the population's for {CHECKED_STEPS} steps")
    for name, seconds in times.items():
        ratios = [k * s / t for s, t in zip(times["solo"], seconds, strict=True)]
        size = 1 if name == "solo" else k
        print(f"{name:13} {statistics.median(seconds) * 1e3:7.2f} ms a step  "
              f"{size * batch / statistics.median(seconds):8,.0f} samples/s"
              + ("" if name == "solo" else
                 f"  {statistics.median(ratios):.2f}x solo (rounds {min(ratios):.2f}-"
                 f"{max(ratios):.2f})"))


if __name__ == "__main__":
    main()
