#!/usr/bin/env bash
# The GPU checks in one go, for a machine with CUDA (results under $OUT, default gpu-results/):
# the population bench (issue 17's GPU target) first, then the CUDA tests, ganzoo bench for the
# reference and a convolutional preset, and data-parallel scaling over the GPUs present. MNIST
# is fetched into $GANZOO_DATA on first use. On a machine that reaches no network and has no
# ganzoo (the `device` tool's), carry .gpu-carry/ made by benchmarks/gpu_carry.sh: this script
# then installs ganzoo from this checkout with the wheels there and reads MNIST from there.
#   OUT=/tmp/gpu bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-$(command -v python3 || command -v python)}
if ! "$PY" -c "import ganzoo" 2> /dev/null; then
    if [ ! -d .gpu-carry/wheels ]; then
        echo "ganzoo is not installed here and no .gpu-carry/ came: pip install -e . first," \
             "or run benchmarks/gpu_carry.sh and carry .gpu-carry" | tee -a "$OUT/summary.txt"
        exit 2
    fi
    "$PY" -m pip install --no-index --no-deps --no-build-isolation --no-compile \
        --target /tmp/ganzoo-site .gpu-carry/wheels/*.whl . > "$OUT/install.txt" 2>&1
    echo "install from this checkout and .gpu-carry/wheels: exit $?" | tee -a "$OUT/summary.txt"
    export PYTHONPATH=/tmp/ganzoo-site${PYTHONPATH:+:$PYTHONPATH}
fi
if [ -d .gpu-carry/data ]; then
    export GANZOO_DATA=${GANZOO_DATA:-$PWD/.gpu-carry/data}
fi
export GANZOO_DATA=${GANZOO_DATA:-$OUT/data}
GANZOO=("$PY" -m ganzoo)

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
# populations against the solo step, both replayed as CUDA graphs; then both eager
"${GANZOO[@]}" bench vanilla-mnist --device cuda --population 1,8,64,256 --no-baseline \
    --seconds 3 --json > "$OUT/bench-population.json" 2> "$OUT/bench-population.err"
echo "bench vanilla-mnist --population 1,8,64,256: exit $?" | tee -a "$OUT/summary.txt"
"${GANZOO[@]}" bench vanilla-mnist --device cuda --population 8,64 --no-baseline --seconds 3 \
    --no-cuda-graphs --json > "$OUT/bench-population-eager.json" \
    2> "$OUT/bench-population-eager.err"
echo "bench vanilla-mnist --population 8,64 --no-cuda-graphs: exit $?" | tee -a "$OUT/summary.txt"

"$PY" -m pytest -q -k "cuda or graph" tests/test_step.py tests/test_variants.py \
    tests/test_population.py tests/contract \
    > "$OUT/pytest-cuda.txt" 2>&1
echo "cuda tests: exit $?" | tee -a "$OUT/summary.txt"

"${GANZOO[@]}" bench vanilla-mnist --device cuda --batch-size 64,1024,4096 \
    --precision fp32,bf16 --seconds 5 --json > "$OUT/bench-vanilla.json" \
    2> "$OUT/bench-vanilla.err"
echo "bench vanilla-mnist: exit $?" | tee -a "$OUT/summary.txt"
# the bf16 target's batch is larger than MNIST: bench repeats the images (no tutorial loop:
# its PIL loader would take minutes per step)
"${GANZOO[@]}" bench vanilla-mnist --device cuda --batch-size 65536 --precision fp32,bf16 \
    --no-baseline --seconds 5 --json > "$OUT/bench-vanilla-65536.json" \
    2> "$OUT/bench-vanilla-65536.err"
echo "bench vanilla-mnist batch 65536: exit $?" | tee -a "$OUT/summary.txt"
"${GANZOO[@]}" bench dcgan-mnist --device cuda --batch-size 128,1024 --precision fp32,bf16 \
    --seconds 5 --json > "$OUT/bench-dcgan.json" 2> "$OUT/bench-dcgan.err"
echo "bench dcgan-mnist: exit $?" | tee -a "$OUT/summary.txt"
# an objective's own network (InfoGAN's Q) and its persistent state (BEGAN's k) in the graph
for preset in infogan-mnist began-mnist; do
    "${GANZOO[@]}" bench $preset --device cuda --batch-size 64,1024 --no-baseline --seconds 3 \
        --json > "$OUT/bench-$preset.json" 2> "$OUT/bench-$preset.err"
    echo "bench $preset: exit $?" | tee -a "$OUT/summary.txt"
done
# colour at 32 and 64 px (issue 27): the data path in memory vs streamed through pinned
# memory, and DCGAN against PyTorch's DCGAN example (both from random PNGs they write)
"$PY" benchmarks/datapath.py --device cuda --images 8192 --seconds 20 \
    > "$OUT/datapath.txt" 2>&1
echo "datapath (in memory vs streamed, 64 px): exit $?" | tee -a "$OUT/summary.txt"
"$PY" benchmarks/dcgan_example.py --device cuda --images 4096 --seconds 20 \
    > "$OUT/dcgan-example.txt" 2>&1
echo "dcgan vs PyTorch's example (32, 64 px): exit $?" | tee -a "$OUT/summary.txt"
# R3GAN (issue 30): R1 and R2 take D's input gradient inside the step; against the plain loop
"${GANZOO[@]}" bench r3gan-mnist --device cuda --batch-size 64,512 --no-baseline --seconds 5 \
    --json > "$OUT/bench-r3gan.json" 2> "$OUT/bench-r3gan.err"
echo "bench r3gan-mnist: exit $?" | tee -a "$OUT/summary.txt"
"$PY" benchmarks/r3gan_loop.py --device cuda --seconds 20 > "$OUT/r3gan-loop.txt" 2>&1
echo "r3gan vs a plain PyTorch loop: exit $?" | tee -a "$OUT/summary.txt"
# image-to-image (issue 33): translators fed the batch in the CUDA graph, the pool of fakes
for preset in pix2pix-edges2mnist cyclegan-mnist-restyle; do
    "${GANZOO[@]}" bench $preset --device cuda --batch-size 16,64 --precision fp32,bf16 \
        --no-baseline --seconds 3 --json > "$OUT/bench-$preset.json" 2> "$OUT/bench-$preset.err"
    echo "bench $preset: exit $?" | tee -a "$OUT/summary.txt"
done
"$PY" benchmarks/pix2pix_loop.py --device cuda --seconds 20 > "$OUT/pix2pix-loop.txt" 2>&1
echo "pix2pix 64 px vs the reference loop: exit $?" | tee -a "$OUT/summary.txt"
"$PY" benchmarks/pix2pix_loop.py --device cuda --seconds 20 --jitter 8 \
    > "$OUT/pix2pix-loop-jitter.txt" 2>&1
echo "pix2pix 64 px with random jitter and flips vs the reference loop: exit $?" \
    | tee -a "$OUT/summary.txt"
gpus=$("$PY" -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -gt 1 ]; then
    counts=$("$PY" -c "print(','.join(str(2**i) for i in range(int($gpus).bit_length()) if 2**i <= $gpus))")
    "$PY" benchmarks/scaling.py dcgan-mnist --device cuda --nproc "$counts" --epochs 2 \
        --json "$OUT/scaling.json" > "$OUT/scaling.txt" 2>&1
    echo "scaling over $counts GPUs: exit $?" | tee -a "$OUT/summary.txt"
else
    echo "one GPU: no multi-GPU scaling to measure" | tee -a "$OUT/summary.txt"
fi
