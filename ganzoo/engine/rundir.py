"""A run directory: where a run's config, records, sample grids and checkpoints live.

``config.json`` (the resolved preset), ``metrics.jsonl`` (one line per epoch),
``environment.json`` (what trained it: versions, device, git commit; one entry per start or
resume), ``samples/*.png``, ``loss.png``, ``checkpoints/epoch-NNNN[-step-SSSSSS].safetensors`` (the
last few) and ``generator.safetensors`` (the generator alone, written at the end).

A population's run directory holds ``population.json`` (its members and their seeds),
``checkpoints/`` (every tensor with a leading member axis) and one ordinary run directory
per member in ``members/member-NN/``, so that everything that reads a run reads a member.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from ..core.errors import CheckpointError, ConfigError, RunExists
from ..core.fileio import atomic_write_bytes
from ..core.interfaces import Preset

CHECKPOINT_NAME = re.compile(r"epoch-(\d+)(?:-step-(\d+))?\.safetensors")
GENERATOR_FILE = "generator.safetensors"
POPULATION_FILE = "population.json"
MEMBERS = "members"


def checkpoints_in(run_dir: Path) -> list[Path]:
    """The training checkpoints of a run directory, oldest first: ``epoch-0007-step-000400``
    (400 steps into epoch 7) before ``epoch-0007`` (its end)."""
    found = [(m, p) for p in (Path(run_dir) / "checkpoints").glob("epoch-*.safetensors")
             if (m := CHECKPOINT_NAME.fullmatch(p.name))]
    return [p for m, p in sorted(found, key=lambda mp: (int(mp[0][1]),
                                                        int(mp[0][2] or 2**63)))]


def find_checkpoint(path: Path) -> Path:
    """A training checkpoint file, or the newest one in a run directory."""
    path = Path(path)
    if path.is_dir():
        found = checkpoints_in(path)
        if not found:
            raise CheckpointError(f"no checkpoints in run directory {path}")
        return found[-1]
    if not path.exists():
        raise CheckpointError(f"no run directory or checkpoint at {path}")
    return path


def run_dir_of(ckpt_path: Path) -> Path | None:
    """The run directory a checkpoint file sits in, if it sits in one."""
    parent = Path(ckpt_path).resolve().parent
    return parent.parent if parent.name == "checkpoints" else None


def member_dir(root: Path, i: int) -> Path:
    """Member ``i``'s run directory inside the population run ``root``."""
    return Path(root) / MEMBERS / f"member-{i:02d}"


def read_population(root: Path) -> dict | None:
    """``population.json`` of a population run directory; None for any other path."""
    path = Path(root) / POPULATION_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is damaged ({exc})") from None


def population_of_member(root: Path) -> Path | None:
    """The population run whose member ``root`` is (its checkpoints are there); else None."""
    parent = Path(root).resolve().parent
    return parent.parent if parent.name == MEMBERS and read_population(parent.parent) else None


def is_population_run(path: Path) -> bool:
    """Whether ``path`` (a run directory or a checkpoint in one) is a population's."""
    path = Path(path)
    root = path if path.is_dir() else run_dir_of(path)
    return root is not None and read_population(root) is not None


def default_run_dir(preset: Preset) -> Path:
    return Path("runs") / f"{preset.name}-{datetime.now():%Y%m%d-%H%M%S}"


class RunDir:
    """The files of one run directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.metrics = self.root / "metrics.jsonl"
        self.samples = self.root / "samples"
        self.checkpoints = self.root / "checkpoints"
        self.generator = self.root / GENERATOR_FILE
        self.environment = self.root / "environment.json"

    def holds_a_run(self) -> bool:
        return self.metrics.exists() or any(self.checkpoints.glob("*.safetensors"))

    def create(self, preset: Preset) -> None:
        """The folders, and ``config.json`` written anew."""
        try:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            self.samples.mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create run directory {self.root}: {exc.strerror}") from None
        text = json.dumps(preset.to_dict(), indent=2) + "\n"
        atomic_write_bytes(self.root / "config.json", text.encode())

    def start(self, preset: Preset) -> None:
        """Lay out a new run; refuses a directory that already holds one."""
        if self.holds_a_run():
            raise RunExists(self.root)
        self.create(preset)
        self.rewrite_records([])

    def reopen(self, preset: Preset, resumed_from: Path, epoch: int, keep: int) -> list[dict]:
        """Continue a run from ``resumed_from`` at ``epoch``: records after it are dropped
        (they are trained again), and so are leftovers of writes a crash interrupted.
        Returns the records kept."""
        self.create(preset)
        self.remove_partial_writes()
        newest = checkpoints_in(self.root)[-1:]
        if newest and newest[0].resolve() == Path(resumed_from).resolve():
            # a kill between a save and its pruning left one too many: prune now, or
            # repeated kills would pile them up (never a checkpoint resumed from)
            self.prune_checkpoints(keep)
        history = self.records(before_epoch=epoch)
        self.rewrite_records(history)
        return history

    def write_population(self, preset: Preset, members: list[dict]) -> None:
        text = json.dumps({"preset": preset.name, "members": members}, indent=2) + "\n"
        atomic_write_bytes(self.root / POPULATION_FILE, text.encode())

    def record_environment(self, env: dict) -> None:
        """Add this start's (or resume's) environment to ``environment.json``."""
        sessions = self.environments()
        text = json.dumps([*sessions, env], indent=2) + "\n"
        atomic_write_bytes(self.environment, text.encode())

    def environments(self) -> list[dict]:
        """The environments the run was trained in, first start first (none recorded: [])."""
        try:
            sessions = json.loads(self.environment.read_text())
        except (OSError, ValueError):
            return []  # none yet, or damaged: a report without it beats a failed run
        return sessions if isinstance(sessions, list) else []

    def records(self, before_epoch: int | None = None) -> list[dict]:
        if not self.metrics.exists():
            return []
        rows = [json.loads(line) for line in self.metrics.read_text().splitlines() if line]
        return [r for r in rows if before_epoch is None or r["epoch"] < before_epoch]

    def rewrite_records(self, rows: list[dict]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in rows)
        atomic_write_bytes(self.metrics, text.encode())

    def append_record(self, row: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")

    def checkpoint_path(self, epochs_done: int, step: int = 0) -> Path:
        """Named by the epoch as the run prints it (0-based, ``Epoch [7/101]``): after
        ``epochs_done`` epochs, ``epoch-<the last one>``; ``step`` steps into the next,
        ``epoch-<that one>-step-<step>``."""
        if step:
            return self.checkpoints / f"epoch-{epochs_done:04d}-step-{step:06d}.safetensors"
        return self.checkpoints / f"epoch-{epochs_done - 1:04d}.safetensors"

    def prune_checkpoints(self, keep: int) -> None:
        for old in checkpoints_in(self.root)[:-keep]:
            old.unlink(missing_ok=True)

    def remove_partial_writes(self) -> None:
        """Temp files of writes that a crash interrupted (never a complete checkpoint)."""
        for tmp in self.checkpoints.glob(".*.tmp*"):
            tmp.unlink(missing_ok=True)
