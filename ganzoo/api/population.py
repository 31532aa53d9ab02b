"""A population run as an object: its members (each a :class:`~ganzoo.Run`) and their
scores as a distribution over seeds."""

from __future__ import annotations

import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..engine.rundir import member_dir, read_population
from ..evaluation.quality import EVAL_SAMPLES
from ..evaluation.report import Report
from .run import Run
from .scoring import evaluate

EVAL_FILE = "eval.json"  # the members' scores, written by Population.evaluate


@dataclass(frozen=True)
class Spread:
    """A distribution over the members: median, interquartile range, min, max."""

    median: float
    q1: float
    q3: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if len(values) < 2:
            v = values[0]
            return cls(v, v, v, v, v)
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(statistics.median(values), q1, q3, min(values), max(values))

    def __str__(self) -> str:
        return (f"median {self.median:.2f}, IQR {self.q1:.2f}-{self.q3:.2f}, "
                f"min {self.min:.2f}, max {self.max:.2f}")


@dataclass(frozen=True)
class PopulationReport:
    """Each member's :class:`~ganzoo.Report` (None: frozen after diverging) and the spread
    of their FID and classifier score; ``best`` is the member with the lowest FID."""

    reports: dict[int, Report | None]
    settings: dict[int, dict] = field(default_factory=dict)  # each member's swept settings

    def _values(self, key: str, members=None) -> list[float]:
        return [getattr(r.generator, key) for i, r in self.reports.items()
                if r is not None and (members is None or i in members)]

    def by_settings(self) -> dict[str, Spread]:
        """The FID's spread over the seeds of each swept setting (``"lr_g=0.0001"``)."""
        groups: dict[str, list[int]] = {}
        for i in self.reports:
            label = ", ".join(f"{k}={v}" for k, v in self.settings.get(i, {}).items())
            groups.setdefault(label, []).append(i)
        return {label: Spread.of(self._values("fid", members)) for label, members
                in groups.items() if self._values("fid", members)}

    @property
    def fid(self) -> Spread:
        return Spread.of(self._values("fid"))

    @property
    def classifier_score(self) -> Spread:
        return Spread.of(self._values("classifier_score"))

    @property
    def best(self) -> int:
        scored = {i: r.generator.fid for i, r in self.reports.items() if r is not None}
        return min(scored, key=scored.get)

    def __str__(self) -> str:
        lines = ["member   FID       classifier score"]
        for i, r in self.reports.items():
            mark = "  <- best" if i == self.best else ""
            lines.append(f"{i:>6}   frozen (diverged)" if r is None else
                         f"{i:>6}   {r.generator.fid:<9.2f} {r.generator.classifier_score:.2f}"
                         f"{mark}")
        lines += [f"FID: {self.fid}", f"classifier score: {self.classifier_score}"]
        spreads = self.by_settings()
        if len(spreads) > 1:
            lines += [f"FID at {label}: {spread}" for label, spread in spreads.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"members": {str(i): None if r is None else r.to_dict()
                            for i, r in self.reports.items()},
                "fid": vars(self.fid), "classifier_score": vars(self.classifier_score),
                "best": self.best,
                "by_settings": {label: vars(s) for label, s in self.by_settings().items()}}


class Population:
    """A population run directory: ``members`` are its members' runs, in seed order.

    >>> pop = ganzoo.train("vanilla-mnist", population=8, epochs=25)
    >>> print(pop.evaluate(n=1000))            # each member, the spread, the best
    >>> pop.member("best").sample(16)
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        info = read_population(self.root)
        if info is None:
            raise ConfigError(f"{self.root} is not a population run (no population.json)")
        self.seeds = [m["seed"] for m in info["members"]]
        self.settings = [m.get("settings", {}) for m in info["members"]]  # what a sweep set
        self.members = [Run(member_dir(self.root, i)) for i in range(len(self.seeds))]

    def __repr__(self) -> str:
        return f"Population({str(self.root)!r}, members={len(self.members)})"

    @property
    def frozen(self) -> dict[int, str]:
        """The members frozen after diverging, and why."""
        found = {}
        for i, run in enumerate(self.members):
            last = run.history[-1] if run.history else {}
            if last.get("frozen"):
                found[i] = last.get("why", "diverged")
        return found

    def member(self, which: int | str) -> Run:
        """Member ``which``: its index, or "best" (lowest FID in the last evaluation)."""
        return self.members[self.index(which)]

    def index(self, which: int | str) -> int:
        if str(which) == "best":
            scores = self.root / EVAL_FILE
            if not scores.is_file():
                raise ConfigError(f"no member is known as best yet: score the population "
                                  f"first (ganzoo eval {self.root})")
            return int(json.loads(scores.read_text())["best"])
        try:
            i = int(which)
        except ValueError:
            raise ConfigError(f"member: expected an index or 'best', got {which!r}") from None
        if not 0 <= i < len(self.members):
            raise ConfigError(f"member {i}: the population has members 0-"
                              f"{len(self.members) - 1}")
        return i

    def evaluate(self, n: int = EVAL_SAMPLES, **kwargs: Any) -> PopulationReport:
        """Every member not frozen scored as :func:`ganzoo.evaluate` scores a run; the
        result is kept in the run directory (``eval.json``) for ``member("best")``."""
        frozen = self.frozen
        reports = {i: None if i in frozen else evaluate(run, n, **kwargs)
                   for i, run in enumerate(self.members)}
        result = PopulationReport(reports, dict(enumerate(self.settings)))
        (self.root / EVAL_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        return result

    def export(self, which: int | str, path: Path | str) -> Path:
        """Member ``which``'s generator as an ordinary single-run generator file."""
        i = self.index(which)
        source = self.members[i].root / "generator.safetensors"
        if i in self.frozen and not source.is_file():
            raise ConfigError(f"member {i} was frozen ({self.frozen[i]}) and its weights are "
                              "not finite: it has no generator to export")
        if not source.is_file():
            raise ConfigError(f"{source} does not exist yet: the population has not finished")
        shutil.copyfile(source, path)
        return Path(path)
