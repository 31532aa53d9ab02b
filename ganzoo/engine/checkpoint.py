"""safetensors checkpoints: loading one never runs code.

A training checkpoint holds G, D, both optimiser states, the RNG states and, when the preset
keeps one, the EMA of G's weights (``generator_ema.*``) as tensors, with the objective's own
networks (``objective.<name>.*``) and persistent state (``objective_state.<name>``); its
metadata holds the format, the ganzoo version, the preset name, the resolved config (JSON),
the position (epochs completed, steps into the next) and the optimisers' hyper-parameters.
A checkpoint taken inside an epoch also holds the RNG state at that epoch's start (to redraw
its batch order) and the epoch's loss sums so far. A generator export holds G (and its EMA).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes

from ..core.errors import CheckpointError
from ..core.fileio import atomic_write_bytes
from ..core.interfaces import Preset
from ..core.presetfile import preset_from_data
from ..core.version import __version__

FORMAT = "ganzoo/1"
TRAINING, GENERATOR = "training", "generator"
EMA = "generator_ema"  # the section holding the moving average of G's weights
NETWORKS, STATE = "objective", "objective_state"  # the objective's networks and state
EPOCH_RNG, EPOCH_LOSS_SUM = "epoch_rng", "epoch_loss_sum"  # inside an epoch: its state so far


@dataclass
class InEpoch:
    """Where a checkpoint taken inside an epoch stands in it: the RNG state(s) at the
    epoch's start (to redraw its batch order), its loss sums and seconds so far."""

    step: int
    rng: dict[str, torch.Tensor]
    loss_sum: torch.Tensor
    elapsed: float


@dataclass
class Checkpoint:
    """A checkpoint read and checked: its position and bookkeeping as typed fields (parsed
    once, in :func:`load`), its tensors by name."""

    path: Path
    kind: str
    preset: Preset
    epoch: int  # epochs completed
    step: int  # steps done in the next epoch (0: taken at an epoch boundary)
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]
    updates: int = 0  # G updates done (the objective's step index)
    world_size: int = 1  # processes that trained it
    elapsed: float = 0.0  # seconds trained in the current epoch (a mid-epoch checkpoint)
    members: list[dict] | None = None  # a population's members; None for a single run
    frozen: dict[int, str] = field(default_factory=dict)  # a population's frozen members

    def section(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors saved under ``prefix.`` with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    @property
    def epoch_loss_sum(self) -> torch.Tensor:
        """The loss sums of the epoch so far (a mid-epoch checkpoint)."""
        return self.tensors[EPOCH_LOSS_SUM]

    @property
    def epoch_rng(self) -> dict[str, torch.Tensor]:
        """The RNG state(s) at the epoch's start (a mid-epoch checkpoint)."""
        return self.section(EPOCH_RNG)


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict, list]:
    state = opt.state_dict()
    tensors = {f"{prefix}.{index}.{name}": value.detach().clone().contiguous()
               for index, entry in state["state"].items() for name, value in entry.items()
               if isinstance(value, torch.Tensor)}  # SGD keeps momentum_buffer=None
    return tensors, state["param_groups"]


def _restore_optimizer(ckpt: Checkpoint, prefix: str, opt: torch.optim.Optimizer,
                       groups: list) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in ckpt.section(prefix).items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    params = [p for group in opt.param_groups for p in group["params"]]
    for index, entry in state.items():  # moments shaped like the weight, a scalar step
        if not 0 <= index < len(params):
            raise ValueError(f"{prefix} has state for parameter {index} of {len(params)}")
        for name, value in entry.items():
            want = ((), torch.float32) if name == "step" else (params[index].shape,
                                                               params[index].dtype)
            if (value.shape, value.dtype) != want:
                raise ValueError(f"{prefix}.{index}.{name} is {value.dtype} "
                                 f"{tuple(value.shape)}, expected {want[1]} {tuple(want[0])}")
    opt.load_state_dict({"state": state, "param_groups": groups})


def rng_states() -> dict[str, torch.Tensor]:
    """torch's global RNG states: ``cpu`` and, once CUDA is in use, ``cuda.<i>``."""
    states = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"cuda.{i}"] = state
    return states


def set_rng_states(states: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(states["cpu"])
    cuda = [states[k] for k in sorted((k for k in states if k.startswith("cuda.")),
                                      key=lambda k: int(k[5:]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def _module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _write(path: Path, tensors: dict[str, torch.Tensor], kind: str, preset: Preset, epoch: int,
           extra: dict[str, str] | None = None) -> None:
    metadata = {"format": FORMAT, "kind": kind, "ganzoo_version": __version__,
                "preset": preset.name, "config": json.dumps(preset.to_dict()),
                "epoch": str(epoch), "step": "0", **(extra or {})}
    tensors = {k: v.cpu() for k, v in tensors.items()}
    atomic_write_bytes(Path(path), safetensors_bytes(tensors, metadata=metadata))


def model_tensors(parts: dict) -> dict[str, torch.Tensor]:
    """The trained tensors in a step's ``parts`` (``TrainStep.checkpointed``), by their names
    in a checkpoint: the models, the EMA, the objective's networks and state."""
    tensors = {**_module_tensors("generator", parts["generator"]),
               **_module_tensors("discriminator", parts["discriminator"])}
    if parts.get("ema") is not None:
        tensors.update(_module_tensors(EMA, parts["ema"]))
    for name, module in (parts.get("networks") or {}).items():
        tensors.update(_module_tensors(f"{NETWORKS}.{name}", module))
    tensors.update({f"{STATE}.{name}": value.detach().cpu().clone().contiguous()
                    for name, value in (parts.get("state") or {}).items()})
    return tensors


def save_training(path: Path, *, preset: Preset, epoch: int, parts: dict,
                  inside: InEpoch | None = None, world_size: int = 1,
                  extra_tensors: dict[str, torch.Tensor] | None = None,
                  extra_metadata: dict[str, str] | None = None) -> None:
    """Everything needed to continue exactly. ``parts`` is what ``TrainStep.checkpointed``
    gives (the models, optimisers, EMA, the objective's networks and state, ``updates``);
    ``inside`` marks a mid-epoch checkpoint. A population adds its members' RNG streams and
    list (``extra_tensors``, ``extra_metadata``)."""
    tensors = model_tensors(parts)
    groups = {}
    for prefix in ("opt_g", "opt_d"):
        opt_tensors, groups[prefix] = _flatten_optimizer(prefix, parts[prefix])
        tensors.update(opt_tensors)
    tensors.update({f"rng.{k}": v for k, v in rng_states().items()})
    tensors.update(extra_tensors or {})
    extra = {"optimizers": json.dumps(groups), "world_size": str(world_size),
             "updates": str(parts.get("updates", 0)), **(extra_metadata or {})}
    if inside is not None:
        tensors.update({f"{EPOCH_RNG}.{k}": v for k, v in inside.rng.items()})
        tensors[EPOCH_LOSS_SUM] = inside.loss_sum.detach().float().cpu()
        extra.update(step=str(inside.step), elapsed=repr(float(inside.elapsed)))
    _write(path, tensors, TRAINING, preset, epoch, extra)


def export_generator(path: Path, *, preset: Preset, epoch: int, generator: torch.nn.Module,
                     ema: torch.nn.Module | None = None) -> None:
    tensors = _module_tensors("generator", generator)
    if ema is not None:
        tensors.update(_module_tensors(EMA, ema))
    _write(path, tensors, GENERATOR, preset, epoch)


def load(path: Path) -> Checkpoint:
    """Read and validate a checkpoint; any problem is one clear :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as exc:  # safetensors reports truncation and garbage in many ways
        raise CheckpointError(f"{path} is not a readable safetensors file "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ganzoo checkpoint (format "
                              f"{metadata.get('format')!r}, expected {FORMAT!r})")
    try:
        preset = preset_from_data(json.loads(metadata["config"]), f"{path} (config)")
        epoch, step = int(metadata["epoch"]), int(metadata.get("step", "0"))
        kind = metadata["kind"]
        if epoch < 0 or step < 0:
            raise ValueError(f"negative position: epoch {epoch}, step {step}")
        if not 0 <= float(metadata.get("elapsed", "0")) < math.inf:
            raise ValueError(f"elapsed {metadata['elapsed']!r} is not a number of seconds")
        if step and not (EPOCH_LOSS_SUM in tensors and "elapsed" in metadata
                         and any(k.startswith(EPOCH_RNG + ".") for k in tensors)):
            raise ValueError(f"mid-epoch checkpoint (step {step}) without its epoch state")
        members = json.loads(metadata["population"])["members"] if (
            "population" in metadata) else None
        bookkeeping = {"updates": int(metadata.get("updates", "0")),
                       "world_size": int(metadata.get("world_size", "1")),
                       "elapsed": float(metadata.get("elapsed", "0")), "members": members,
                       "frozen": {int(i): str(why) for i, why in
                                  json.loads(metadata.get("frozen", "{}")).items()}}
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"{path} has damaged metadata ({detail})") from None
    if kind not in (TRAINING, GENERATOR):
        raise CheckpointError(f"{path} has unknown checkpoint kind {kind!r}")
    return Checkpoint(path, kind, preset, epoch, step, tensors, metadata, **bookkeeping)


def load_training(path: Path) -> Checkpoint:
    """A checkpoint that can be resumed (not a generator export)."""
    ckpt = load(path)
    if ckpt.kind != TRAINING:
        raise CheckpointError(f"{ckpt.path} is a {ckpt.kind} export; resuming needs a "
                              "training checkpoint from <run>/checkpoints/")
    return ckpt


def load_module(ckpt: Checkpoint, prefix: str, module: torch.nn.Module) -> None:
    expected = module.state_dict()
    for key, value in ckpt.section(prefix).items():
        if key in expected and value.dtype != expected[key].dtype:
            raise CheckpointError(f"{ckpt.path}: {prefix}.{key} is {value.dtype}, the model "
                                  f"holds {expected[key].dtype}")
    try:
        module.load_state_dict(ckpt.section(prefix))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise CheckpointError(f"{ckpt.path}: the {prefix} weights do not fit the model "
                              f"({detail[:300]})") from None


def restore_training(ckpt: Checkpoint, *, generator: torch.nn.Module,
                     discriminator: torch.nn.Module, opt_g: torch.optim.Optimizer,
                     opt_d: torch.optim.Optimizer, ema: torch.nn.Module | None = None,
                     networks: dict[str, torch.nn.Module] | None = None,
                     state: dict[str, torch.Tensor] | None = None) -> None:
    """Load every part of a training checkpoint, RNG states included, into the live objects."""
    load_module(ckpt, "generator", generator)
    load_module(ckpt, "discriminator", discriminator)
    for name, module in (networks or {}).items():
        load_module(ckpt, f"{NETWORKS}.{name}", module)
    saved = ckpt.section(STATE)
    for name, live in (state or {}).items():
        value = saved.get(name)
        if value is None or (value.shape, value.dtype) != (live.shape, live.dtype):
            found = "nothing" if value is None else f"{value.dtype} {tuple(value.shape)}"
            raise CheckpointError(f"{ckpt.path}: the objective's state {name!r} is {found}, "
                                  f"expected {live.dtype} {tuple(live.shape)}")
        live.copy_(value)
    if ema is not None:
        if not ckpt.section(EMA):
            raise CheckpointError(f"{ckpt.path} holds no EMA of the generator's weights, "
                                  "but its settings keep one")
        load_module(ckpt, EMA, ema)
    try:
        groups = json.loads(ckpt.metadata["optimizers"])
        _restore_optimizer(ckpt, "opt_g", opt_g, groups["opt_g"])
        _restore_optimizer(ckpt, "opt_d", opt_d, groups["opt_d"])
        set_rng_states(ckpt.section("rng"))
    except Exception as exc:
        raise CheckpointError(f"{ckpt.path}: cannot restore the optimiser or RNG state "
                              f"({type(exc).__name__}: {exc})") from None

