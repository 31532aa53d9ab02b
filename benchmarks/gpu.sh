#!/usr/bin/env bash
# The GPU checks in one go, for a machine with CUDA (results under $OUT, default gpu-results/):
# the CUDA tests, ganzoo bench for the reference and a convolutional preset, and data-parallel
# scaling over the GPUs present. MNIST is fetched into $GANZOO_DATA on first use; on a machine
# that reaches neither the internet nor a package index, set GANZOO_DATA to a data root copied
# there (its MNIST/raw/*-ubyte files, about 55 MB).
#   OUT=/tmp/gpu bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
export GANZOO_DATA=${GANZOO_DATA:-$OUT/data}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python -m pytest -q -k "cuda or graph" tests/test_step.py tests/test_variants.py \
    tests/test_population.py \
    > "$OUT/pytest-cuda.txt" 2>&1
echo "cuda tests: exit $?" | tee -a "$OUT/summary.txt"

ganzoo bench vanilla-mnist --device cuda --batch-size 64,1024,4096 --precision fp32,bf16 \
    --seconds 5 --json > "$OUT/bench-vanilla.json" 2> "$OUT/bench-vanilla.err"
echo "bench vanilla-mnist: exit $?" | tee -a "$OUT/summary.txt"
# the bf16 target's batch is larger than MNIST: bench repeats the images (no tutorial loop:
# its PIL loader would take minutes per step)
ganzoo bench vanilla-mnist --device cuda --batch-size 65536 --precision fp32,bf16 \
    --no-baseline --seconds 5 --json > "$OUT/bench-vanilla-65536.json" \
    2> "$OUT/bench-vanilla-65536.err"
echo "bench vanilla-mnist batch 65536: exit $?" | tee -a "$OUT/summary.txt"
ganzoo bench dcgan-mnist --device cuda --batch-size 128,1024 --precision fp32,bf16 \
    --seconds 5 --json > "$OUT/bench-dcgan.json" 2> "$OUT/bench-dcgan.err"
echo "bench dcgan-mnist: exit $?" | tee -a "$OUT/summary.txt"
# an objective's own network (InfoGAN's Q) and its persistent state (BEGAN's k) in the graph
for preset in infogan-mnist began-mnist; do
    ganzoo bench $preset --device cuda --batch-size 64,1024 --no-baseline --seconds 3 --json \
        > "$OUT/bench-$preset.json" 2> "$OUT/bench-$preset.err"
    echo "bench $preset: exit $?" | tee -a "$OUT/summary.txt"
done
# populations against the solo step, both replayed as CUDA graphs; then both eager
ganzoo bench vanilla-mnist --device cuda --population 1,8,64,256 --no-baseline --seconds 3 \
    --json > "$OUT/bench-population.json" 2> "$OUT/bench-population.err"
echo "bench vanilla-mnist --population 1,8,64,256: exit $?" | tee -a "$OUT/summary.txt"
ganzoo bench vanilla-mnist --device cuda --population 8,64 --no-baseline --seconds 3 \
    --no-cuda-graphs --json > "$OUT/bench-population-eager.json" \
    2> "$OUT/bench-population-eager.err"
echo "bench vanilla-mnist --population 8,64 --no-cuda-graphs: exit $?" | tee -a "$OUT/summary.txt"

gpus=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -gt 1 ]; then
    counts=$(python -c "print(','.join(str(2**i) for i in range(int($gpus).bit_length()) if 2**i <= $gpus))")
    python benchmarks/scaling.py dcgan-mnist --device cuda --nproc "$counts" --epochs 2 \
        --json "$OUT/scaling.json" > "$OUT/scaling.txt" 2>&1
    echo "scaling over $counts GPUs: exit $?" | tee -a "$OUT/summary.txt"
else
    echo "one GPU: no multi-GPU scaling to measure" | tee -a "$OUT/summary.txt"
fi
