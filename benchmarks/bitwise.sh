#!/bin/bash
# Does a refactor keep training bit for bit? Trains every MNIST preset for 1 epoch on small
# generated data (batch 32), vanilla-mnist for 2 epochs on the real MNIST and as a population
# of 2 for 1, with the code of REV (default HEAD: ganzoo and its plugins) and with the working
# tree, and compares every tensor of every checkpoint and export.
#
#   bash benchmarks/bitwise.sh [REV]        (run inside the repository's virtual environment)
#
# A population's `rng.cpu` (torch's global generator, which its members' noise and batches do
# not use; unseeded in a fresh process before 2026-12-06) is left out of the comparison.
set -euo pipefail
rev=${1:-HEAD}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
git -C "$repo" worktree add -q --detach "$work/old" "$rev"
trap 'git -C "$repo" worktree remove --force "$work/old"; rm -rf "$work"' EXIT
cd "$work"
mkdir old-registry && ln -s "$work/old/registry" old-registry/ganzoo_registry  # REV's catalogue
python -c "import sys; sys.path.insert(0, '$repo/tests'); from pathlib import Path; \
from helpers import make_mnist_root; make_mnist_root(Path('data')); \
make_mnist_root(Path('data'), folder='FashionMNIST')"

train() {  # side, output directory, ganzoo train arguments...
  local side=$1 out=$2; shift 2
  local path=""
  [ "$side" = old ] && path="$work/old-registry:$work/old/plugins:$work/old"
  PYTHONPATH=$path python -m ganzoo train "$@" --out "$side/$out" --quiet > /dev/null
}

for side in old new; do
  for toml in "$work"/old/registry/*-mnist.toml; do  # the presets REV has
    preset=$(basename "$toml" .toml)
    [ "$preset" = sgan-mnist ] && extra=(--set dataset.labeled_per_class=2) || extra=()
    train $side "$preset" "$preset" --epochs 1 --data-dir data --set batch_size=32 "${extra[@]}"
  done
  train $side vanilla-real vanilla-mnist --epochs 2
  train $side vanilla-population vanilla-mnist --epochs 1 --population 2
done

python - <<'EOF'
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file


def position(side: str, path: Path) -> tuple:
    """Where a file stands in its run: checkpoints by the epochs and steps they hold (their
    names changed on 2026-12-06), other files by name."""
    where = path.relative_to(side)
    if path.parent.name != "checkpoints":
        return (str(where),)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    return (str(where.parent), int(meta["epoch"]), int(meta["step"]))


files = differ = 0
news = {position("new", p): p for p in Path("new").rglob("*.safetensors")}
for old in sorted(Path("old").rglob("*.safetensors")):
    new = news[position("old", old)]
    a, b = load_file(old), load_file(new)
    population = "population" in str(old)
    keys = {k for k in a.keys() | b.keys() if not (population and k == "rng.cpu")}
    bad = [k for k in sorted(keys) if k not in a or k not in b or not a[k].equal(b[k])]
    files += 1
    if bad:
        differ += 1
        print(f"DIFFER {old.relative_to('old')}: {bad[:4]}")
print(f"{files} checkpoint files compared, {differ} differ")
raise SystemExit(1 if differ else 0)
EOF
