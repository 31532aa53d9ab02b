"""``ganzoo.load``: a run, a population, or one member of it, from its directory."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import ConfigError
from ..engine.rundir import is_population_run
from .population import Population
from .run import Run


def load(path: Path | str, member: int | str | None = None) -> Run | Population:
    """The run in a run directory, or the one a checkpoint file belongs to; a population's
    directory gives the :class:`~ganzoo.Population`, or with ``member`` (an index or
    "best": the lowest FID of its last evaluation) that member's run."""
    if is_population_run(Path(path)):
        population = Population(path)
        return population if member is None else population.member(member)
    if member is not None:
        raise ConfigError(f"member {member}: {path} is not a population run")
    return Run(path)
