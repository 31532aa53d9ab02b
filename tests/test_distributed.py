"""Data-parallel training: 2 CPU processes with gloo, as torchrun would start them."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from helpers import make_mnist_root, run_cli
from safetensors import safe_open

import ganzoo
from ganzoo.engine.rundir import checkpoints_in

BATCH = 16  # per rank


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tensors(path, prefix=""):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}  # noqa: SIM118


def _rank(rank, world, port, data_root, out, sets, dump_dir, resume, preset="vanilla-mnist"):
    """One process of a DDP run: trains through ganzoo.train and dumps what it trained (a
    callback reads the run's weights at its end)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)

    class Dump(ganzoo.Callback):
        every_rank = True

        def on_train_end(self, training):
            torch.save(training.weights(), dump_dir / f"rank{rank}.pt")

    ganzoo.train(preset, device="cpu", out=out, data_dir=data_root,
                 quiet=True, checkpoint_every=None, resume=resume, callbacks=[Dump()], **sets)


def run_ranks(world, data_root, out, sets, dump_dir, resume=None, preset="vanilla-mnist"):
    mp.spawn(_rank, args=(world, free_port(), data_root, out, sets, dump_dir, resume, preset),
             nprocs=world)
    return [torch.load(dump_dir / f"rank{r}.pt") for r in range(world)]


def test_two_ranks_stay_identical_write_once_and_resume_in_one_process(tmp_path):
    data = make_mnist_root(tmp_path / "data", n_train=128)
    out = tmp_path / "run"
    sets = {"batch_size": BATCH, "epochs": 2, "sample_every": 1}
    rank0, rank1 = run_ranks(2, data, out, sets, tmp_path)
    assert rank0.keys() == rank1.keys()
    assert any(k.startswith("discriminator.") for k in rank0)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # one writer: one line per epoch, the checkpoints of one run, plain weights
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2 and '"steps": 4' in rows[0]  # 128 images / (2 ranks x 16)
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["epoch-0000.safetensors", "epoch-0001.safetensors"]
    saved = tensors(out / "checkpoints" / "epoch-0001.safetensors", "generator.")
    assert saved.keys() == {k for k in rank0 if k.startswith("generator.")}
    assert all(torch.equal(saved[k], rank0[k]) for k in saved)
    # a DDP run's checkpoint resumes in a single process
    result = run_cli("train", "vanilla-mnist", "--resume", out, "--epochs", "3",
                     "--data-dir", data, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "checkpoints" / "epoch-0002.safetensors").is_file()


def test_a_single_process_run_resumes_on_two_ranks(tmp_path):
    data = make_mnist_root(tmp_path / "data", n_train=128)
    out = tmp_path / "run"
    result = run_cli("train", "vanilla-mnist", "--data-dir", data, "--out", out, "--epochs", "1",
                     "--batch-size", str(BATCH), "--quiet")
    assert result.exit_code == 0, result.output
    run_ranks(2, data, out, {"batch_size": BATCH, "epochs": 2}, tmp_path, resume=out)
    ckpt = out / "checkpoints" / "epoch-0001.safetensors"
    with safe_open(str(ckpt), framework="pt") as f:
        assert f.metadata()["world_size"] == "2"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_two_ranks_take_the_step_of_one_process_with_the_global_batch(tmp_path):
    """Gradients are averaged over the global batch: after one step on 2 x 16 images, Adam's
    first moments (0.1 x the gradient) and the weights match one process on 32 images."""
    data = make_mnist_root(tmp_path / "data", n_train=2 * BATCH)
    sets = {"epochs": 1, "hflip": False}
    run_ranks(2, data, tmp_path / "ddp", {**sets, "batch_size": BATCH}, tmp_path)
    result = run_cli("train", "vanilla-mnist", "--data-dir", data, "--out", tmp_path / "one",
                     "--epochs", "1", "--batch-size", str(2 * BATCH), "--set", "hflip=false",
                     "--quiet")
    assert result.exit_code == 0, result.output
    ddp = tensors(tmp_path / "ddp" / "checkpoints" / "epoch-0000.safetensors")
    one = tensors(tmp_path / "one" / "checkpoints" / "epoch-0000.safetensors")
    moments = [k for k in one if k.endswith(".exp_avg")]
    assert len(moments) == 12  # 6 tensors in each model
    for key in moments:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-9)
    for key in [k for k in one if k.startswith(("generator.", "discriminator."))]:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-6)


def test_an_objective_network_and_state_train_in_ddp(tmp_path):
    """InfoGAN's Q head (an objective's own network) and BEGAN's k (its persistent state)
    stay identical on both ranks (batch-norm statistics aside: DDP broadcasts rank 0's
    before each forward, and each rank's last forward updates its own); BEGAN, with models
    free of batch statistics (the MLP G), takes the step of one process on the global
    batch: the weights and k match it after 2 steps."""
    data = make_mnist_root(tmp_path / "data", n_train=4 * BATCH)
    sets = {"epochs": 1, "batch_size": BATCH, "sample_every": 1}
    info = run_ranks(2, data, tmp_path / "info", sets, tmp_path, preset="infogan-mnist")
    assert any(k.startswith("objective.q.") for k in info[0])
    assert info[0].keys() == info[1].keys()
    for key in [k for k in info[0] if "running_" not in k]:
        assert torch.equal(info[0][key], info[1][key]), key
    mlp = {"generator": {"name": "mlp", "kwargs": {"z_dim": 64}}}
    began = run_ranks(2, data, tmp_path / "ddp", {**sets, **mlp}, tmp_path,
                      preset="began-mnist")
    assert torch.equal(began[0]["objective_state.k"], began[1]["objective_state.k"])
    result = run_cli("train", "began-mnist", "--data-dir", data, "--out", tmp_path / "one",
                     "--epochs", "1", "--batch-size", str(2 * BATCH), "--set", "generator=mlp",
                     "--set", "generator.z_dim=64", "--quiet")
    assert result.exit_code == 0, result.output
    ddp = tensors(tmp_path / "ddp" / "checkpoints" / "epoch-0000.safetensors")
    one = tensors(tmp_path / "one" / "checkpoints" / "epoch-0000.safetensors")
    assert one["objective_state.k"] > 0
    torch.testing.assert_close(ddp["objective_state.k"], one["objective_state.k"], rtol=1e-4,
                               atol=1e-9)
    # Adam's steps are lr (1e-4) x m / sqrt(v): rounding moves a weight by a few 1e-6 where
    # a gradient is near zero, a wrong gradient by up to 2e-4
    for key in [k for k in one if k.startswith(("generator.", "discriminator."))]:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-4, atol=1e-5)


def test_an_objective_that_judges_with_its_own_networks_trains_in_ddp(tmp_path):
    """AAE: the preset's D is NoDiscriminator (nothing for DDP to wrap), its critic an objective
    network on D's side, and G runs again in G's update on the encoder's codes (ctx.g):
    every weight stays identical on both ranks."""
    data = make_mnist_root(tmp_path / "data", n_train=4 * BATCH)
    sets = {"epochs": 1, "batch_size": BATCH, "sample_every": 1}
    aae = run_ranks(2, data, tmp_path / "aae", sets, tmp_path, preset="aae-mnist")
    assert any(k.startswith("objective.critic.") for k in aae[0])
    assert aae[0].keys() == aae[1].keys()
    assert [k for k in aae[0] if not torch.equal(aae[0][k], aae[1][k])] == []


def test_a_translator_of_both_ways_trains_in_ddp(tmp_path):
    """CycleGAN: G fed the batch, run again in G's update for the cycle and the identity
    (ctx.g), D through DDP on real and pooled fakes (ctx.d): every weight stays identical on
    both ranks; each rank keeps its own pool of its own fakes (int16, never averaged)."""
    data = make_mnist_root(tmp_path / "data", n_train=4 * BATCH)
    small = {"generator": {"name": "resnet-translator", "kwargs": {"width": 4, "blocks": 1}},
             "discriminator": {"name": "patchgan", "kwargs": {"width": 4,
                                                              "judge": "domains"}}}
    sets = {"epochs": 1, "batch_size": BATCH, "sample_every": 1, **small}
    ranks = run_ranks(2, data, tmp_path / "cyclegan", sets, tmp_path,
                      preset="cyclegan-mnist-restyle")
    assert ranks[0].keys() == ranks[1].keys()
    differ = [k for k in ranks[0] if not torch.equal(ranks[0][k], ranks[1][k])]
    assert differ == ["objective_state.pool"]


def start_torchrun(tmp_path, *extra):
    """An endless 2-process CPU run under torchrun, returned once its first checkpoint is on
    disk: (process, data root, run directory)."""
    data = make_mnist_root(tmp_path / "data", n_train=128)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-port", str(free_port()), "-m", "ganzoo", "train", "vanilla-mnist",
           "--data-dir", str(data), "--out", str(out), "--epochs", "100000",
           "--batch-size", "8", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not list((out / "checkpoints").glob("*.safetensors")):
        assert time.monotonic() < deadline and proc.poll() is None, "training did not start"
        time.sleep(0.2)
    return proc, data, out


@pytest.mark.skipif(sys.platform != "linux", reason="process groups and signals as on Linux")
def test_sigterm_to_torchrun_stops_every_rank_after_one_save(tmp_path):
    proc, data, out = start_torchrun(tmp_path, "--set", "log_every=1")
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output  # rank 0 speaks for both
    assert "SIGTERM: stopped after saving" in errors[0]
    assert "Resume with: torchrun --nproc-per-node 2 -m ganzoo train vanilla-mnist" in errors[0]
    saved = errors[0].split("saving ")[1].split(". Resume")[0]
    result = run_cli("train", "vanilla-mnist", "--resume", saved, "--data-dir", data,
                     "--epochs", str(int(saved.split("epoch-")[1][:4]) + 1), "--quiet")
    assert result.exit_code == 0, result.output


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the workers through /proc")
def test_when_one_rank_dies_the_run_ends_instead_of_hanging(tmp_path):
    proc, data, out = start_torchrun(tmp_path)
    workers = _children(proc.pid)
    assert len(workers) == 2
    os.kill(max(workers), signal.SIGKILL)  # the later-started worker: rank 1
    proc.communicate(timeout=90)  # torchrun stops the other rank; nothing waits forever
    assert proc.returncode != 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
    newest = checkpoints_in(out)[-1]
    result = run_cli("train", "vanilla-mnist", "--resume", newest, "--data-dir", data,
                     "--epochs", str(int(newest.name[6:10]) + 1), "--quiet")
    assert result.exit_code == 0, result.output
