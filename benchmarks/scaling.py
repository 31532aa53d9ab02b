"""Data-parallel scaling: the same preset trained by 1, 2, ... processes under torchrun.

    python benchmarks/scaling.py vanilla-mnist --nproc 1,2 --epochs 2 [--data-dir D]
    python benchmarks/scaling.py dcgan-mnist --nproc 1,2,4,8 --device cuda

Each process count runs ``torchrun --nproc-per-node N -m ganzoo train PRESET`` (per-rank
batch fixed, so the global batch grows with N) and reads the samples/s of the last epoch
from its metrics.jsonl (images per second over all ranks). On CPU, ``--threads`` cores are
shared out: each of N processes gets threads // N of them, so the comparison is at equal
hardware. Prints one line per N and writes scaling.json.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run(preset: str, nproc: int, args, out: Path) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", str(nproc), "-m", "ganzoo", "train", preset, "--quiet",
           "--out", str(out), "--epochs", str(args.epochs), "--device", args.device,
           "--checkpoint-every", "0", *sum((["--set", s] for s in args.set), [])]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    env = dict(os.environ)
    if args.device == "cpu":
        env["OMP_NUM_THREADS"] = str(max(1, args.threads // nproc))
    subprocess.run(cmd, check=True, env=env)
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return {"nproc": nproc, "samples_per_s": last["samples_per_s"], "steps": last["steps"],
            "epoch_s": last["time_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("preset")
    parser.add_argument("--nproc", default="1,2", help="comma-separated process counts")
    parser.add_argument("--epochs", type=int, default=2, help="the last one is measured")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CPU threads shared out among the processes")
    parser.add_argument("--data-dir")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", default="scaling.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(v) for v in args.nproc.split(",")]:
            row = run(args.preset, n, args, Path(tmp) / f"n{n}")
            row["speedup"] = row["samples_per_s"] / rows[0]["samples_per_s"] if rows else 1.0
            rows.append(row)
            print(f"{args.preset} {args.device} x{n}: {row['samples_per_s']:,.0f} samples/s "
                  f"({row['steps']} steps/epoch, {row['epoch_s']:.1f} s/epoch), "
                  f"x{row['speedup']:.2f} vs {rows[0]['nproc']} process(es)", flush=True)
    Path(args.json).write_text(json.dumps({"preset": args.preset, "device": args.device,
                                           "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
