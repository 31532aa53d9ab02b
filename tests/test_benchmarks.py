"""The whole-epoch benchmark runs both programs and reports their epochs (nothing on time)."""

import json
import subprocess
import sys
from pathlib import Path

from helpers import make_mnist_root

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_epochs_benchmark_times_both_programs(tmp_path):
    mnist_root = make_mnist_root(tmp_path / "data", n_train=300)
    out = tmp_path / "epochs.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "epochs.py"), "--data-dir",
                           str(mnist_root), "--epochs", "3", "--rounds", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    # 3 epochs each: the 2 gaps between consecutive epoch lines are the timed epochs
    assert {k: len(v) for k, v in report["epoch_seconds"].items()} == {"ganzoo": 2,
                                                                       "tutorial": 2}
    assert all(s > 0 for v in report["epoch_seconds"].values() for s in v)
    # 300 images: the tutorial's loader keeps the partial batch, ganzoo drops it (4 x 64)
    assert report["samples_per_s"]["ganzoo"] == 256 / report["median_s"]["ganzoo"]
    assert report["samples_per_s"]["tutorial"] == 300 / report["median_s"]["tutorial"]
    assert "ganzoo x" in done.stdout.splitlines()[-1]


def test_epochs_benchmark_times_a_population_against_the_solo_run(tmp_path):
    mnist_root = make_mnist_root(tmp_path / "data", n_train=300)
    out = tmp_path / "epochs.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "epochs.py"), "--data-dir",
                           str(mnist_root), "--epochs", "2", "--rounds", "1", "--population",
                           "2", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert {k: len(v) for k, v in report["epoch_seconds"].items()} == {"ganzoo": 1,
                                                                       "population K=2": 1}
    # both members' images count: 2 x 4 batches of 64
    assert report["samples_per_s"]["population K=2"] == 512 / report["median_s"]["population K=2"]
    assert report["ratio"] == (report["samples_per_s"]["population K=2"]
                               / report["samples_per_s"]["ganzoo"])
    assert "population x" in done.stdout.splitlines()[-1]


def test_tutorial_program_trains_and_prints_its_epoch_lines(mnist_root):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "tutorial_seed.py"), "--data-dir",
                           str(mnist_root), "--epochs", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(" Loss")[0] for line in lines] == ["Epoch [0/2]", "Epoch [1/2]"]


def test_population_ceiling_is_the_population_step_hand_written():
    """The hand-written batched step the population is measured against trains the same
    members: the script exits non-zero if its losses leave the population's."""
    done = subprocess.run([sys.executable, str(BENCHMARKS / "population_ceiling.py"),
                           "--size", "2", "--rounds", "1", "--steps", "1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "losses were the population's for 5 steps" in done.stdout
    assert [line.split()[0] for line in done.stdout.splitlines()[1:]] == [
        "solo", "population", "hand-written"]
