"""What the loop trains in a population: K members of one preset (seeds seed ... seed+K-1,
for each point of a sweep over learning rates, betas and the objective's numbers) in one
vectorised step, each the run a single ``ganzoo train`` with its seed and settings would be.

Each member draws its batch order and noise from its own RNG stream, which starts where a
single run's global RNG would stand after building its models. A member whose loss or
weights turn non-finite is frozen and reported; the others train on. The run directory's
layout is :mod:`~ganzoo.engine.rundir`'s. The single run's counterpart is
:class:`~ganzoo.engine.solo.Solo`.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Mapping, Sequence

import torch

from ..core.build import Components, build
from ..core.config import apply_overrides
from ..core.errors import ConfigError, GanzooError, TrainingError
from ..core.interfaces import Preset
from . import checkpoint
from .options import RunOptions
from .population import LOSS_SWEEP, SWEEPABLE, PopulationStep
from .rng import MemberRNG
from .rundir import RunDir, member_dir
from .step import CudaGraphStep, recapture

VMAP_SEED = 2**32  # the global RNG's seed in a population is this + the preset's seed


def plan_members(preset: Preset, size: int, sweep: Mapping[str, Sequence] | None = None
                 ) -> list[dict]:
    """The members: every point of the ``sweep`` grid (all combinations of its values)
    with seeds seed ... seed+size-1 each, as ``{"member", "seed", "settings"}``."""
    sweep = dict(sweep or {})
    for key, values in sweep.items():
        if key not in SWEEPABLE and not key.startswith(LOSS_SWEEP):
            raise ConfigError(f"sweep: {key} cannot differ inside one population (the members "
                              f"share one step); sweep {', '.join(SWEEPABLE)} or a number of "
                              f"the objective's ({LOSS_SWEEP}<kwarg>), or train separate runs")
        if isinstance(values, (str, bytes)) or not values:
            raise ConfigError(f"sweep: {key} needs a list of values, got {values!r}")
        if key.startswith(LOSS_SWEEP) and not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"sweep: {key} takes numbers, got {list(values)!r}")
    members = []
    for point in itertools.product(*sweep.values()):
        settings = dict(zip(sweep, point, strict=True))
        first = int(settings.pop("seed", preset.train.seed))
        for i in range(size):
            members.append({"member": len(members), "seed": first + i, "settings": settings})
    if not members:
        raise ConfigError(f"population: expected at least 1 member, got {size}")
    return members


def member_preset(preset: Preset, member: dict) -> Preset:
    """The preset a solo run of ``member`` would train."""
    return apply_overrides(preset, {"seed": member["seed"], **member.get("settings", {})})


class Members:
    """K members in one :class:`PopulationStep` (or in turn, where ``vmap`` cannot run the
    step), each with its own RNG stream, run directory and shown generator."""

    def __init__(self, preset: Preset, options: RunOptions, device: torch.device,
                 members: list[dict], say: Callable[[str], None]) -> None:
        if options.precision != "fp32" or options.on_nan != "stop":
            raise ConfigError("a population trains in fp32 and freezes a member that "
                              "diverges: drop precision and on_nan")
        settings = preset.train
        self.preset, self.members, self.say = preset, members, say
        self.presets = [member_preset(preset, m) for m in members]
        self.swept = any(m["settings"] for m in members)
        parts, self.rng = _build(self.presets, device)
        # what the vectorised step draws (an augment's, a penalty's random points) comes from
        # torch's global RNG under vmap: seeded apart from every member's stream, so the
        # population is reproducible (and, as the RNG is checkpointed, resumes exactly)
        torch.manual_seed(VMAP_SEED + settings.seed)
        self.dataset = parts[0].dataset
        self._parts = parts
        graphs = options.cuda_graphs and device.type == "cuda"
        self.step = PopulationStep(parts, self.presets, capturable=graphs)
        _check_swept_numbers(preset, members, self.step)
        self.batch = settings.batch_size * settings.n_critic  # each member's images per step
        self.loss_shape = (len(members), 2)  # [loss_d, loss_g] per member
        if not _vectorisable(self.step, self.batch, device, say):
            self.step.run_members_in_turn(self.rng)
            graphs = False  # each member's draws switch its RNG stream: no graph can hold that
        self.replay = CudaGraphStep(self.step) if graphs else self.step
        self.frozen: dict[int, str] = {}
        self._shown = [copy.deepcopy(p.generator).requires_grad_(False) for p in parts]

    @property
    def size(self) -> int:
        return len(self.members)

    def restore(self, resumed: checkpoint.Checkpoint) -> None:
        self.step.restore(resumed)
        self.rng.states = [resumed.section(f"member_rng.{i}") for i in range(self.size)]
        for i, why in resumed.frozen.items():
            self.frozen[i] = why
            self.step.freeze(i)

    def weights(self, member: int) -> dict[str, torch.Tensor]:
        """Member ``member``'s trained tensors by their checkpoint names (on the CPU)."""
        stacked = checkpoint.model_tensors(self.step.checkpointed())
        return {name: value[member].clone() for name, value in stacked.items()}

    def start(self, device: torch.device) -> None:
        """Nothing to wrap: a population trains in one process."""

    def open_runs(self, root: RunDir, resumed: checkpoint.Checkpoint | None,
                  env: dict) -> list[tuple[RunDir, list[dict]]]:
        """The population's directory and one run directory per member, each with the
        records kept from before (those after the checkpoint are trained again)."""
        keep = self.preset.train.keep_checkpoints
        if resumed is None:
            root.start(self.preset)
            root.write_population(self.preset, self.members)
        else:
            root.reopen(self.preset, resumed.path, resumed.epoch, keep)
        root.record_environment(env)
        runs = []
        for i, mine in enumerate(self.presets):
            member = RunDir(member_dir(root.root, i))
            history = []
            if resumed is None:
                member.start(mine)
            else:
                history = member.reopen(mine, resumed.path, resumed.epoch, keep)
            member.record_environment(env)  # each member's page says what trained it
            runs.append((member, history))
        return runs

    def shown(self) -> list[torch.nn.Module]:
        """Each member's generator for its grids and scores (refreshed by sync_shown)."""
        return self._shown

    def sync_shown(self) -> None:
        """Each member's generator (its EMA when kept) into its shown copy."""
        live = self.step.ema if self.step.ema is not None else self.step.generator
        for i, G in enumerate(self._shown):
            G.load_state_dict(live.member(i))

    def batches(self, data, orders, start: int):
        return data.stacked_batches(orders, self.batch, start)

    def noise(self, device: torch.device) -> torch.Tensor:
        G = self.step.generator
        return torch.stack(self.rng.each(lambda m: G.sample_noise(self.batch, device)))

    def start_step(self, resumed: checkpoint.Checkpoint) -> int:
        return resumed.step

    def check_losses(self, losses: torch.Tensor, total: torch.Tensor, epoch: int, i: int,
                     last_good) -> str | None:
        """A member whose epoch's loss sum is not finite is frozen (the one host sync per
        log_every)."""
        for m, ok in enumerate(torch.isfinite(total).all(1).tolist()):
            if not ok and m not in self.frozen:
                self._freeze(m, f"non-finite loss at epoch {epoch}, step {i}")
        return None

    def check_weights(self, epoch: int, step: int, last_good) -> None:
        """A member whose weights are no longer finite is frozen (and never exported)."""
        for m in self._non_finite():
            if m not in self.frozen:
                where = f"step {step} of epoch {epoch}" if step else f"the end of epoch {epoch}"
                self._freeze(m, f"non-finite weights at {where}")

    def _non_finite(self) -> list[int]:
        s = self.step
        bad = torch.zeros(self.size, dtype=torch.bool)
        for net in (s.generator, s.discriminator, *s.networks.values()):
            for t in net.tensors().values():
                if t.is_floating_point():
                    bad |= ~torch.isfinite(t.detach()).reshape(self.size, -1).all(1).cpu()
        return bad.nonzero().flatten().tolist()

    def _freeze(self, m: int, why: str) -> None:
        self.frozen[m] = why
        self.step.freeze(m)
        recapture(self.replay)  # the graph must put member m back too
        self.say(f"Member {m} (seed {self.members[m]['seed']}) diverged ({why}); it is "
                 "frozen, the others train on")

    def mean_over_ranks(self, total: torch.Tensor) -> torch.Tensor:
        return total

    def records(self, record: dict, means: torch.Tensor) -> list[dict]:
        """Each member's record: the single run's fields, the member's index, seed and
        swept settings, and whether it is frozen (and why)."""
        s, rows = self.step, []
        for m, (loss_d, loss_g) in enumerate(means.tolist()):
            member = self.members[m]
            rows.append({
                "epoch": record["epoch"], "member": m, "seed": member["seed"],
                **({"settings": member["settings"]} if member["settings"] else {}),
                "steps": record["steps"], "loss_d": loss_d, "loss_g": loss_g,
                "samples_per_s": record["samples_per_s"], "time_s": record["time_s"],
                **{f"state_{name}": value[m].item() for name, value in s.state.items()
                   if value[m].numel() == 1},
                **{f"lr_{side}": s.member_lr(side, m) for side in s.schedules},
                "frozen": m in self.frozen,
                **({"why": self.frozen[m]} if m in self.frozen else {})})
        return rows

    def summary(self, epoch: int, records: list[dict]) -> str:
        alive = [r for r in records if not r["frozen"]]
        return (f"Epoch [{epoch}/{self.preset.train.epochs}] {len(alive)} of {self.size} "
                f"members training; median loss D {_median(alive, 'loss_d')}, loss G "
                f"{_median(alive, 'loss_g')} | {records[0]['samples_per_s'] * self.size:,.0f} "
                "samples/s in all")

    def checkpoint_extras(self) -> tuple[dict, dict]:
        """The members' RNG streams, their list and which are frozen."""
        tensors = {f"member_rng.{m}.{k}": v for m, s in enumerate(self.rng.states)
                   for k, v in s.items()}
        return tensors, {"population": json.dumps({"members": self.members}),
                         "frozen": json.dumps({str(k): v for k, v in self.frozen.items()})}

    def export(self, runs: list[RunDir], epoch: int) -> None:
        """Each member's ``generator.safetensors``, as a single run writes its own; a member
        whose weights are not finite gets none (its records say why it was frozen)."""
        bad = set(self._non_finite())
        for i, run in enumerate(runs):
            if i in bad:
                continue
            G = self._parts[i].generator
            G.load_state_dict(self.step.generator.member(i))
            ema = None
            if self.step.ema is not None:
                ema = copy.deepcopy(G)
                ema.load_state_dict(self.step.ema.member(i))
            try:
                checkpoint.export_generator(run.generator, preset=self.presets[i], epoch=epoch,
                                            generator=G, ema=ema)
            except OSError as exc:
                raise TrainingError(f"could not write {run.generator}: {exc.strerror or exc}"
                                    "; the population's training checkpoints hold every "
                                    "member's generator too") from None

    def farewell(self) -> str | None:
        """The last word after training: which members were frozen, and why."""
        if not self.frozen:
            return None
        return "Frozen (diverged): " + "; ".join(f"member {i}: {why}"
                                                 for i, why in sorted(self.frozen.items()))

    def describe(self, steps: int, device: torch.device) -> str:
        seeds = [m["seed"] for m in self.members]
        swept = f" x {self.size // len(set(seeds))} settings" if self.swept else ""
        how = "in one vectorised step" if self.step.vectorised else "one after another"
        return (f"Training a population of {self.size} {self.preset.name} (seeds "
                f"{min(seeds)}-{max(seeds)}{swept}) on {device} {how} for "
                f"{self.preset.train.epochs} epochs ({steps} steps of {self.batch} images "
                "per member)")


def _build(presets: list[Preset], device: torch.device) -> tuple[list[Components], MemberRNG]:
    """Each member's components built as a single run builds them, and its RNG stream from
    there on."""
    parts, states = [], []
    outside = checkpoint.rng_states()
    for mine in presets:
        torch.manual_seed(mine.train.seed)
        parts.append(build(mine).to(device))
        states.append(checkpoint.rng_states())
    checkpoint.set_rng_states(outside)
    return parts, MemberRNG(states)


def _check_swept_numbers(preset: Preset, members: list[dict], step: PopulationStep) -> None:
    """A swept number of the objective must reach each member; else every member would
    train member 0's value."""
    swept = {tuple(sorted((k, v) for k, v in m["settings"].items() if k.startswith(LOSS_SWEEP)))
             for m in members}
    if len(swept) > 1 and not step.numbers:
        raise ConfigError(f"sweep: {preset.loss.name} keeps "
                          f"{', '.join(k for k, _ in next(iter(swept)))} in a form a "
                          "population cannot give each member (a number attribute); train "
                          "separate runs")


class _Idle:
    """The probe's optimiser: no step."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self) -> None:
        pass


_IDLE = _Idle()


def _vectorisable(step: PopulationStep, batch: int, device: torch.device, say) -> bool:
    """Whether one step runs under ``vmap``, tried on a copy (so nothing trains twice); if
    not, say so: the members then train one after another in this process."""
    # a copy whose optimisers step nothing: what runs under vmap (the losses, their
    # gradients, the objective's hooks) runs; the optimisers work on the stacked leaves,
    # outside vmap, and a copy of one may lack its own attributes (Optimizer.__getstate__)
    idle = {id(step.opt_g): _IDLE, id(step.opt_d): _IDLE}
    probe, size = copy.deepcopy(step, memo=idle), step.generator.size
    real = torch.zeros(size, batch, *step.generator.out_shape, device=device)
    labels = torch.zeros(size, batch, dtype=torch.long, device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        noise = torch.stack([step.generator.sample_noise(batch, device) for _ in range(size)])
        try:
            probe(real, labels, noise)
        except GanzooError:
            raise  # a plugin's mistake ganzoo names: not vmap's
        except Exception as exc:  # noqa: BLE001 - any failure: the loop gives the real error
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            say(f"ganzoo: this preset's step cannot run under torch.func.vmap "
                f"({type(exc).__name__}: {first[:160]}); its {size} members train one "
                "after another in this process instead")
            return False
    return True


def _median(records: list[dict], key: str) -> str:
    values = sorted(r[key] for r in records)
    return f"{values[len(values) // 2]:.4f}" if values else "-"

