"""A population's scores against the tutorial loop's over the same seeds.

    python benchmarks/spread.py runs/pop parity/parity.json [more parity.json ...]

Reads the ``eval.json`` that ``ganzoo eval POP`` wrote (a score per member; each member's
seed from ``population.json``) and the ``parity.json``
files of ``benchmarks/parity.py --impl tutorial`` (one per seed), and prints each side's FID
and classifier score per seed with median, IQR, min and max. It also prints an exact
two-sided Mann-Whitney test of whether the two distributions differ: every split of the
pooled scores into two groups of those sizes is enumerated, so no table or SciPy is needed.
"""

import argparse
import itertools
import json
import statistics
from pathlib import Path

METRICS = ("fid", "classifier_score")


def spread(values: list[float]) -> str:
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return (f"median {statistics.median(values):.2f}, IQR {low:.2f}-{high:.2f}, "
            f"min {min(values):.2f}, max {max(values):.2f}")


def mann_whitney(a: list[float], b: list[float]) -> tuple[float, float]:
    """U of ``a`` against ``b`` and its exact two-sided p-value."""
    def u(x, y):
        return sum((xi > yi) + 0.5 * (xi == yi) for xi in x for yi in y)

    pooled, centre = a + b, len(a) * len(b) / 2
    seen = abs(u(a, b) - centre)
    splits = [abs(u([pooled[i] for i in chosen],
                    [pooled[i] for i in range(len(pooled)) if i not in chosen]) - centre)
              for chosen in map(set, itertools.combinations(range(len(pooled)), len(a)))]
    return u(a, b), sum(s >= seen - 1e-9 for s in splits) / len(splits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("population", type=Path, help="a population run, scored by eval")
    parser.add_argument("parity", type=Path, nargs="+", help="parity.json files")
    args = parser.parse_args()
    scores = json.loads((args.population / "eval.json").read_text())["members"]
    members = json.loads((args.population / "population.json").read_text())["members"]
    ours = {m["seed"]: scores[str(m["member"])]["generator"] for m in members
            if not m["settings"]}  # a sweep's members are not the tutorial's settings
    theirs = {r["seed"]: r for path in args.parity
              for r in json.loads(path.read_text())["runs"] if r["impl"] == "tutorial"}
    seeds = sorted(ours.keys() & theirs.keys())
    print(f"seeds {seeds}")
    for metric in METRICS:
        a, b = [ours[s][metric] for s in seeds], [theirs[s][metric] for s in seeds]
        print(f"{metric}: population  {' '.join(f'{v:.2f}' for v in a)}  ({spread(a)})")
        print(f"{metric}: tutorial    {' '.join(f'{v:.2f}' for v in b)}  ({spread(b)})")
        u, p = mann_whitney(a, b)
        print(f"{metric}: Mann-Whitney U {u:g}, two-sided exact p {p:.3f}")


if __name__ == "__main__":
    main()
