"""``ganzoo.train``: a preset and Python overrides in, a :class:`Run` out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.build import with_data_shape
from ..core.config import apply_overrides
from ..core.errors import ConfigError
from ..core.interfaces import Callback, ComponentRef, Preset
from ..engine import checkpoint
from ..engine.callbacks import standard_callbacks
from ..engine.loop import PopulationPlan
from ..engine.loop import train as run_training
from ..engine.options import CHECKPOINT_EVERY, RunOptions
from ..engine.rundir import find_checkpoint, is_population_run
from ..evaluation.callbacks import EvaluateEvery, ReportPage
from ..evaluation.runpage import write_report
from .population import Population
from .presets import resolve_preset
from .run import Run

FREE_ON_RESUME = ("epochs", "eval_every")  # what a resumed run may change


def _flat(preset: Preset) -> dict[str, Any]:
    data = preset.to_dict()
    return {**data.pop("train"), **data}


def resolve(preset: str | Path | Preset | None, resume: Path | str | None = None,
            named_callbacks: Sequence[Any] = (), **overrides: Any) -> Preset:
    """The preset a run trains: ``preset`` (or, resuming, the run's own; None: the run's)
    with ``overrides`` applied and ``named_callbacks`` (registered names) added to its
    callbacks. A resumed run keeps its settings; only epochs and eval_every may change."""
    if preset is None and resume is None:
        raise ConfigError("name a preset to train, or a run to resume")
    saved = None if resume is None else checkpoint.load_training(
        find_checkpoint(Path(resume))).preset
    base = saved if preset is None else resolve_preset(preset)
    before = base
    if saved is not None and saved.name == base.name:  # another's run: the engine refuses it
        # a name means the run's own settings; a Preset object must agree with them
        before, base = saved, base if isinstance(preset, Preset) else saved
    if named_callbacks:
        overrides = {**overrides, "callbacks": [*base.callbacks, *named_callbacks]}
    resolved = apply_overrides(base, overrides)
    if resume is None:
        return with_data_shape(resolved)
    after = _flat(resolved)
    changed = sorted(k for k, v in _flat(before).items()
                     if k not in FREE_ON_RESUME and after.get(k) != v)
    changed += sorted(k for k in after.keys() - _flat(before).keys())
    if changed:
        raise ConfigError(f"a resumed run keeps its settings; only epochs and eval_every may "
                          f"change (got {', '.join(changed)})")
    return resolved


def _split_callbacks(callbacks: Sequence[Any]) -> tuple[list, list]:
    """(Callback objects and classes, registered names) of ``callbacks``."""
    def own(c) -> bool:  # an object, or a class built for each run
        return isinstance(c, Callback) or (isinstance(c, type) and issubclass(c, Callback))

    named = [c for c in callbacks if not own(c)]
    for c in named:
        if not isinstance(c, (str, Mapping, ComponentRef)):
            raise ConfigError(f"callbacks: expected ganzoo.Callback objects or registered "
                              f"names, got {c!r}")
    return [c for c in callbacks if own(c)], named


def _callback_factory(own: list, eval_every: int) -> Callable[[], list[Callback]]:
    """What makes one run's callbacks (once per member): the built-in ones, then ``own``
    (an object shared, a class built anew each time)."""
    for c in own:  # a class that cannot be built fails now, before any training
        if isinstance(c, type):
            c()

    def made() -> list[Callback]:
        return [*([EvaluateEvery(eval_every)] if eval_every else []), *standard_callbacks(),
                ReportPage(), *(c() if isinstance(c, type) else c for c in own)]

    return made


def _run_options(*, out, resume, device, quiet, data_dir, precision, cuda_graphs,
                 checkpoint_every, on_nan, on_save_error, stream_above) -> RunOptions:
    """The engine's options from ``train``'s keywords (checked by RunOptions)."""
    return RunOptions(device=device, out=Path(out) if out else None,
                      data_dir=Path(data_dir) if data_dir else None,
                      resume=Path(resume) if resume else None, precision=precision,
                      cuda_graphs=cuda_graphs, quiet=quiet, checkpoint_every=checkpoint_every,
                      on_save_error=on_save_error, on_nan=on_nan,
                      stream_above=stream_above)


def train(preset: str | Path | Preset | None = None, *, out: Path | str | None = None,
          resume: Path | str | None = None, device: str | None = None,
          callbacks: Sequence[Callback] = (), quiet: bool = False,
          data_dir: Path | str | None = None, precision: str = "fp32",
          cuda_graphs: bool = True, checkpoint_every: int | str | None = CHECKPOINT_EVERY,
          on_nan: str = "stop", on_save_error: str = "stop", population: int | None = None,
          sweep: Mapping[str, Sequence] | None = None, stream_above: int | str | None = None,
          **overrides: Any) -> Run | Population:
    """Train a preset and return the :class:`Run`.

    ``preset`` is a registered name (``"vanilla-mnist"``), a :class:`Preset`, a preset file
    (``.toml``) or a run's ``config.json`` (to train the same run again); with ``resume``,
    None means the run's own preset. ``overrides`` are its settings as Python values,
    type-checked: ``epochs=5``, ``lr_g=1e-4``, ``loss="hinge"``, ``generator={"z_dim": 100}``
    (see :func:`ganzoo.settable_keys`).

    ``out`` is the run directory (default ``runs/<preset>-<time>``); ``resume`` continues a
    run directory or checkpoint (only ``epochs`` and ``eval_every`` may change);
    ``device`` defaults to CUDA when available. ``callbacks`` are :class:`Callback` objects,
    run after the built-in ones (records, sample grids, loss plot, ``eval_every``'s
    quality), :class:`Callback` classes (built once per run: ``ganzoo.TensorBoard``) or
    registered callbacks' names (or ``{"name", "kwargs"}``), joining the ``config.json``.
    ``precision="bf16"`` autocasts the forward passes; ``cuda_graphs`` replays each CUDA
    step as one graph; ``checkpoint_every`` also checkpoints inside epochs (500 steps,
    "90s", "10m", 0: epoch ends only); ``on_nan="rollback"`` reloads the last good
    checkpoint at half the learning rates; ``on_save_error="continue"`` trains on when a
    checkpoint cannot be written; images larger than ``stream_above`` ("512MB"; default:
    half the memory available) stream from disk.

    ``population=K`` trains K members (seeds seed ... seed+K-1) in one vectorised step and
    returns a :class:`Population`, each member with its own callbacks (a ``Callback``
    object given here is shared: called for every member with its ``Training``);
    ``sweep={"lr_g": [1e-4, 3e-4]}`` makes members of every combination of the values
    (learning rates, betas, seeds, the objective's numbers as ``"loss.<kwarg>"``), K seeds
    each; resuming a population run continues all its members.
    """
    own, named = _split_callbacks(callbacks)
    resolved = resolve(preset, resume, named, **overrides)
    options = _run_options(out=out, resume=resume, device=device, quiet=quiet,
                           data_dir=data_dir, precision=precision, cuda_graphs=cuda_graphs,
                           checkpoint_every=checkpoint_every, on_nan=on_nan,
                           on_save_error=on_save_error, stream_above=stream_above)
    made = _callback_factory(own, resolved.train.eval_every)
    members = population if population is not None else 1
    plan = PopulationPlan(members, sweep) if sweep or population is not None else None
    root = run_training(resolved, options, made, plan)
    if plan is not None or is_population_run(root):
        write_report(root)  # the members overlaid
        return Population(root)
    return Run(root)
