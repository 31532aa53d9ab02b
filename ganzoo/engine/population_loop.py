"""Training a population: K members of one preset (seeds seed ... seed+K-1, for each point
of a sweep over learning rates and betas) in one vectorised step, each the run a single
``ganzoo train`` with its seed and settings would be.

Each member draws its batch order and noise from its own RNG stream, which starts where a
single run's global RNG would stand after building its models. The population's run
directory holds ``population.json`` (the members and their seeds), ``checkpoints/`` (every
tensor with a leading member axis) and one ordinary run directory per member in
``members/member-NN/`` (its config, records, grids, loss plot and, at the end, its
generator), so that ``sample``, ``eval``, ``report`` and the Python API read a member as
they read any run. A member whose loss or weights turn non-finite is frozen and reported;
the others train on.
"""

from __future__ import annotations

import copy
import itertools
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from ..core.build import build
from ..core.config import apply_overrides
from ..core.datasets import default_data_root
from ..core.errors import CheckpointError, ConfigError, Interrupted, TrainingError
from ..core.fileio import atomic_write_bytes
from ..core.interfaces import Callback, Preset
from . import checkpoint, environment
from .batches import DeviceImages
from .callbacks import N_FIXED, Callbacks, Training, fixed_noise, standard_callbacks
from .devices import resolve_device
from .interrupt import GracefulStop
from .options import RunOptions
from .population import LOSS_SWEEP, SWEEPABLE, MemberRNG, PopulationStep, stack_steps
from .rundir import RunDir, checkpoints_in, default_run_dir, find_checkpoint, run_dir_of
from .step import CudaGraphStep, TrainStep

POPULATION_FILE = "population.json"
MEMBERS = "members"


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


def member_dir(root: Path, i: int) -> Path:
    return Path(root) / MEMBERS / f"member-{i:02d}"


def population_of_member(root: Path) -> Path | None:
    """The population run whose member ``root`` is (its checkpoints are there); else None."""
    parent = Path(root).resolve().parent
    return parent.parent if parent.name == MEMBERS and read_population(parent.parent) else None


def read_population(root: Path) -> dict | None:
    """``population.json`` of a population run directory; None for any other path."""
    path = Path(root) / POPULATION_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is damaged ({exc})") from None


def _build_members(presets: list[Preset], device: torch.device, options: RunOptions
                   ) -> tuple[list[TrainStep], list, MemberRNG]:
    """Each member built as a single run builds it, and its RNG stream from there on."""
    steps, parts, states = [], [], []
    outside = checkpoint.rng_states()
    for mine in presets:
        torch.manual_seed(mine.train.seed)
        made = build(mine).to(device)
        steps.append(TrainStep.from_parts(made, mine, options.precision))
        parts.append(made)
        states.append(checkpoint.rng_states())
    checkpoint.set_rng_states(outside)
    return steps, parts, MemberRNG(states)


def _vectorisable(step: PopulationStep, batch: int, device: torch.device, say) -> bool:
    """Whether one step runs under ``vmap``, tried on a copy (so nothing trains twice); if
    not, say so: the members then train one after another in this process."""
    probe, size = copy.deepcopy(step), step.generator.size
    real = torch.zeros(size, batch, *step.generator.out_shape, device=device)
    labels = torch.zeros(size, batch, dtype=torch.long, device=device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        noise = torch.stack([step.generator.sample_noise(batch, device) for _ in range(size)])
        try:
            probe(real, labels, noise)
        except Exception as exc:  # noqa: BLE001 - any failure: the loop gives the real error
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            say(f"ganzoo: this preset's step cannot run under torch.func.vmap "
                f"({type(exc).__name__}: {first[:160]}); its {size} members train one "
                "after another in this process instead")
            return False
    return True


def train_population(preset: Preset, size: int, options: RunOptions | None = None,
                     callbacks: Sequence[Callback] | None = None,
                     sweep: Mapping[str, Sequence] | None = None) -> Path:
    """Train ``size`` members of ``preset`` (times each point of the ``sweep`` grid)
    together, or resume a population run; returns the population's run directory."""
    options = options or RunOptions()
    device = resolve_device(options.device)
    settings = preset.train
    say = (lambda msg: None) if options.quiet else (lambda msg: tqdm.write(msg, file=sys.stdout))
    resumed = checkpoint.load_training(find_checkpoint(options.resume)) if options.resume else None
    if resumed is not None:
        if "population" not in resumed.metadata:
            raise CheckpointError(f"{resumed.path} is a single run's checkpoint; resume it "
                                  "without --population")
        members = json.loads(resumed.metadata["population"])["members"]
    else:
        members = plan_members(preset, size, sweep)
    size = len(members)
    presets = [member_preset(preset, m) for m in members]

    steps, parts, rng = _build_members(presets, device, options)
    graphs = options.cuda_graphs and device.type == "cuda"
    step = stack_steps(steps, settings, capturable=graphs, optimizer_g=preset.optimizer_g,
                       optimizer_d=preset.optimizer_d,
                       member_settings=[p.train for p in presets])
    swept = {tuple(sorted((k, v) for k, v in m["settings"].items() if k.startswith(LOSS_SWEEP)))
             for m in members}
    if len(swept) > 1 and not step.numbers:  # else every member would train member 0's
        raise ConfigError(f"sweep: {preset.loss.name} keeps "
                          f"{', '.join(k for k, _ in next(iter(swept)))} in a form a "
                          "population cannot give each member (a number attribute); train "
                          "separate runs")
    if not _vectorisable(step, settings.batch_size * settings.n_critic, device, say):
        step.run_members_in_turn(rng)
        graphs = False  # each member's draws switch its RNG stream: no graph can hold that
    dataset = parts[0].dataset
    data_root = Path(options.data_dir) if options.data_dir else default_data_root()
    images, labels = dataset.load("train", data_root)
    data = DeviceImages(images, labels, device, hflip=settings.hflip)
    batch = settings.batch_size * settings.n_critic
    steps_per_epoch = data.steps_per_epoch(batch)

    start_epoch, frozen = 0, {}
    if resumed is not None:
        step.restore(resumed)
        rng.states = [resumed.section(f"member_rng.{i}") for i in range(size)]
        frozen = {int(i): why for i, why in json.loads(resumed.metadata["frozen"]).items()}
        root = Path(options.out or run_dir_of(resumed.path) or default_run_dir(preset))
        start_epoch = resumed.epoch
        say(f"Resuming the population of {size} {preset.name} from {resumed.path} "
            f"(epoch {start_epoch}" + (f", step {resumed.step})" if resumed.step else ")"))
    else:
        root = Path(options.out or default_run_dir(preset))
    run = RunDir(root)
    if resumed is None:
        run.start(preset)
        text = json.dumps({"preset": preset.name, "members": members}, indent=2) + "\n"
        atomic_write_bytes(run.root / POPULATION_FILE, text.encode())
    else:
        run.create(preset)
        run.remove_partial_writes()
    env = environment.describe(device)
    run.record_environment(env)

    trainings, hooks = _member_runs(presets, parts, root, env, start_epoch, resumed is not None,
                                    dataset, data_root, images, device, callbacks, say,
                                    f"ganzoo train {preset.name} --resume {run.root}")
    for h in hooks:
        h.train_start()
    swept = f" x {size // len({m['seed'] for m in members})} settings" if sweep else ""
    say(f"Training a population of {size} {preset.name} (seeds "
        f"{min(m['seed'] for m in members)}-{max(m['seed'] for m in members)}{swept}) on "
        f"{device} in one vectorised step for {settings.epochs} epochs ({steps_per_epoch} "
        f"steps of {batch} images per member); run directory: {run.root}")

    trainer = _Trainer(preset, members, step, data, rng, run, frozen, say, options.quiet,
                       CudaGraphStep(step) if graphs else step)
    with GracefulStop() as stop:
        epoch = start_epoch
        while epoch < settings.epochs:
            within = resumed if resumed is not None and epoch == start_epoch else None
            if step.start_epoch(epoch, settings.epochs):
                trainer.step_changed()
            records = trainer.epoch(epoch, stop, within)
            for i, (record, training, h) in enumerate(zip(records, trainings, hooks,
                                                          strict=True)):
                _sync_member(step, i, training.generator)
                training.history.append(record)
                h.epoch_end(record)
            saved = trainer.save(epoch + 1)
            alive = [r for r in records if not r["frozen"]]
            say(f"Epoch [{epoch}/{settings.epochs}] {len(alive)} of {size} members training; "
                f"median loss D {_median(alive, 'loss_d')}, loss G {_median(alive, 'loss_g')} "
                f"| {records[0]['samples_per_s'] * size:,.0f} samples/s in all")
            if stop.requested and epoch < settings.epochs - 1:
                raise trainer.interrupted(stop, saved)
            epoch += 1

    _export_members(step, parts, trainings, max(settings.epochs, start_epoch))
    for h in hooks:
        h.train_end()
    if trainer.frozen:
        say("Frozen (diverged): " + "; ".join(f"member {i}: {why}"
                                               for i, why in sorted(trainer.frozen.items())))
    say(f"Done. The members' runs are in {run.root / MEMBERS}")
    return run.root


def _member_runs(presets: list[Preset], parts: list, root: Path, env: dict, start_epoch: int,
                 resumed: bool, dataset, data_root: Path, images: torch.Tensor,
                 device: torch.device, callbacks: Sequence[Callback] | None, say,
                 resume_command: str) -> tuple[list[Training], list[Callbacks]]:
    """Each member's run directory, as a :class:`Training` its callbacks see."""
    trainings, hooks = [], []
    for i, (mine, made) in enumerate(zip(presets, parts, strict=True)):
        member = RunDir(member_dir(root, i))
        if resumed:  # records after the checkpoint are trained again
            member.create(mine)
            history = member.records(before_epoch=start_epoch)
            member.rewrite_records(history)
        else:
            member.start(mine)
            history = []
        member.record_environment(env)  # each member's page says what trained it
        G = copy.deepcopy(made.generator).requires_grad_(False)
        training = Training(preset=mine, run_dir=member, device=device, generator=G,
                            dataset=dataset, data_root=data_root, real_images=images[:N_FIXED],
                            fixed_noise=fixed_noise(G, mine.train.seed).to(device),
                            start_epoch=start_epoch, resumed=resumed, history=history, say=say)
        chosen = standard_callbacks() if callbacks is None else list(callbacks)
        trainings.append(training)
        hooks.append(Callbacks(chosen, training, lambda: (
            f"The newest checkpoint in {root / 'checkpoints'} is intact; resume with: "
            f"{resume_command}")))
    return trainings, hooks


def _export_members(step: PopulationStep, parts: list, trainings: list[Training],
                    epoch: int) -> None:
    """Each member's ``generator.safetensors``, as a single run writes its own."""
    for i, training in enumerate(trainings):
        _sync_member(step, i, training.generator)
        G = parts[i].generator
        G.load_state_dict(step.generator.member(i))
        ema = None
        if step.ema is not None:
            ema = copy.deepcopy(G)
            ema.load_state_dict(step.ema.member(i))
        checkpoint.export_generator(training.run_dir.generator, preset=training.preset,
                                    epoch=epoch, generator=G, ema=ema)


def _median(records: list[dict], key: str) -> str:
    values = sorted(r[key] for r in records)
    return f"{values[len(values) // 2]:.4f}" if values else "-"


def _sync_member(step: PopulationStep, i: int, generator: torch.nn.Module) -> None:
    """Member ``i``'s generator (its EMA when kept) into ``generator``, for its grids."""
    shown = step.ema if step.ema is not None else step.generator
    generator.load_state_dict(shown.member(i))


class _Trainer:
    """The epochs of a population run: batches and noise per member, divergence checks,
    checkpoints with a member axis. ``replay`` runs the step (``step`` itself, or its CUDA
    graph)."""

    def __init__(self, preset: Preset, members: list[dict], step: PopulationStep,
                 data: DeviceImages, rng: MemberRNG, run: RunDir, frozen: dict[int, str], say,
                 quiet: bool, replay: PopulationStep | CudaGraphStep) -> None:
        self.preset, self.step, self.data, self.rng, self.run = preset, step, data, rng, run
        self.replay = replay
        self.members = members
        self.frozen, self.say, self.quiet = dict(frozen), say, quiet
        for i in self.frozen:
            step.freeze(i)

    @property
    def size(self) -> int:
        return len(self.rng.states)

    def epoch(self, epoch: int, stop: GracefulStop,
              resumed: checkpoint.Checkpoint | None) -> list[dict]:
        """The steps of one epoch for every member; their records."""
        settings, step, data, K = self.preset.train, self.step, self.data, self.size
        batch = settings.batch_size * settings.n_critic
        steps = data.steps_per_epoch(batch)
        start, total, elapsed = 0, torch.zeros(K, 2, device=data.device), 0.0
        if resumed is not None and resumed.step:
            epoch_rng = [resumed.section(f"epoch_rng.member{i}") for i in range(K)]
            start, elapsed = resumed.step, float(resumed.metadata["elapsed"])
            total += resumed.tensors["epoch_loss_sum"].to(data.device)
            self.rng.states = [dict(s) for s in epoch_rng]  # to redraw the epoch's orders
        else:
            epoch_rng = [dict(s) for s in self.rng.states]
        # each member's order, drawn from its stream at the epoch's start
        orders = self.rng.each(lambda i: data.order())
        if start:  # the members' streams as they stood when the checkpoint was taken
            self.rng.states = [resumed.section(f"member_rng.{i}") for i in range(K)]
        G = step.generator
        bar = tqdm(total=steps, initial=start, unit="step", leave=False,
                   desc=f"epoch {epoch}/{settings.epochs}", disable=True if self.quiet else None,
                   file=sys.stderr)
        began = time.perf_counter()
        for i, (real, labels) in enumerate(data.stacked_batches(orders, batch, start), start):
            noise = self.rng.each(lambda m: G.sample_noise(batch, data.device))
            total += self.replay(real, labels, torch.stack(noise))
            done = i + 1
            if done % settings.log_every == 0 or done == steps:
                self._check_losses(total, epoch, i)
                bar.update(done - bar.n)
            if stop.requested and done < steps:
                bar.close()
                saved = self.save(epoch, done, epoch_rng=epoch_rng, loss_sum=total,
                                  elapsed=elapsed + time.perf_counter() - began)
                raise self.interrupted(stop, saved)
        elapsed += time.perf_counter() - began
        bar.close()
        self._check_weights(epoch)
        means = (total / steps).tolist()
        per_member = steps * batch / elapsed  # each member's own samples/s
        return [{"epoch": epoch, "member": m, "seed": self.members[m]["seed"],
                 **({"settings": self.members[m]["settings"]}
                    if self.members[m]["settings"] else {}),
                 "steps": steps, "loss_d": d, "loss_g": g, "samples_per_s": per_member,
                 "time_s": elapsed, "frozen": m in self.frozen,
                 **({"why": self.frozen[m]} if m in self.frozen else {})}
                for m, (d, g) in enumerate(means)]

    def _check_losses(self, total: torch.Tensor, epoch: int, i: int) -> None:
        finite = torch.isfinite(total).all(1).tolist()  # the one host sync per log_every
        for m, ok in enumerate(finite):
            if not ok and m not in self.frozen:
                self._freeze(m, f"non-finite loss at epoch {epoch}, step {i}")

    def _check_weights(self, epoch: int) -> None:
        nets = (self.step.generator, self.step.discriminator, *self.step.networks.values())
        bad = torch.zeros(self.size, dtype=torch.bool, device=self.data.device)
        for net in nets:
            for t in net.tensors().values():
                if t.is_floating_point():
                    bad |= ~torch.isfinite(t.detach()).flatten(1).all(1)
        for m in bad.nonzero().flatten().tolist():
            if m not in self.frozen:
                self._freeze(m, f"non-finite weights at the end of epoch {epoch}")

    def _freeze(self, m: int, why: str) -> None:
        self.frozen[m] = why
        self.step.freeze(m)
        self.step_changed()  # a captured graph must put member m back too
        self.say(f"Member {m} (seed {self.members[m]['seed']}) diverged ({why}); it is "
                 "frozen, the others train on")

    def step_changed(self) -> None:
        """The step changed in a way a captured graph does not replay (a member frozen, a
        scheduled learning rate): capture it again."""
        if isinstance(self.replay, CudaGraphStep):
            self.replay.recapture()

    def save(self, epoch: int, step: int = 0, *, epoch_rng=None, loss_sum=None,
             elapsed: float = 0.0) -> Path:
        path = self.run.checkpoint_path(epoch, step)
        extra = {f"member_rng.{m}.{k}": v for m, s in enumerate(self.rng.states)
                 for k, v in s.items()}
        inside = {}
        if step:
            inside = {"epoch_start_rng": {"cpu": torch.get_rng_state(), **{
                f"member{m}.{k}": v for m, s in enumerate(epoch_rng) for k, v in s.items()}},
                "loss_sum": loss_sum, "elapsed": elapsed}
        try:
            checkpoint.save_training(
                path, preset=self.preset, epoch=epoch, step=step, **self.step.checkpointed(),
                **inside, extra_tensors=extra,
                extra_metadata={"population": json.dumps({"members": self.members}),
                                "frozen": json.dumps({str(k): v for k, v in self.frozen.items()})})
        except OSError as exc:
            raise TrainingError(f"could not write checkpoint {path}: {exc.strerror or exc}"
                                ) from None
        self.run.prune_checkpoints(self.preset.train.keep_checkpoints)
        return path

    def interrupted(self, stop: GracefulStop, saved: Path) -> Interrupted:
        return Interrupted(f"{stop.name}: stopped after saving {saved}. Resume with: "
                           f"ganzoo train {self.preset.name} --resume {self.run.root}",
                           exit_code=stop.exit_code)


def is_population_run(path: Path) -> bool:
    path = Path(path)
    root = path if path.is_dir() else run_dir_of(path)
    return root is not None and read_population(root) is not None and bool(
        checkpoints_in(root))

