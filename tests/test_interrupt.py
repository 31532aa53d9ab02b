"""Interrupts and crashes: Ctrl-C / SIGTERM save and say how to resume; SIGKILL at random
moments never leaves an unloadable newest checkpoint; mid-epoch resume is exact."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from helpers import run_cli

import ganzoo
from ganzoo import in_process_plugin
from ganzoo.engine import checkpoint
from ganzoo.engine.rundir import checkpoints_in, find_checkpoint


def cli(*args):
    return [sys.executable, "-m", "ganzoo", *map(str, args)]


def start(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def newest(run_dir):
    found = checkpoints_in(run_dir) if (run_dir / "checkpoints").is_dir() else []
    return found[-1] if found else None


def wait_for_checkpoint(run_dir, proc, after=None, timeout=60):
    """Wait until the process has written a checkpoint newer than ``after``."""
    deadline = time.monotonic() + timeout
    while newest(run_dir) in (None, after):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no new checkpoint appeared"
        time.sleep(0.01)


def test_checkpoint_names_sort_by_position(tmp_path):
    names = ["epoch-0010.safetensors", "epoch-0002-step-000500.safetensors",
             "epoch-0002.safetensors", "epoch-0009-step-000001.safetensors",
             ".epoch-0011.safetensors.tmp123", "notes.txt"]
    (tmp_path / "checkpoints").mkdir()
    for name in names:
        (tmp_path / "checkpoints" / name).touch()
    assert [p.name for p in checkpoints_in(tmp_path)] == [  # 500 steps into epoch 2, its end
        "epoch-0002-step-000500.safetensors", "epoch-0002.safetensors",
        "epoch-0009-step-000001.safetensors", "epoch-0010.safetensors"]


def test_resuming_inside_an_epoch_is_bitwise_exact(tmp_path, mnist_root):
    common = ("train", "vanilla-mnist", "--data-dir", mnist_root, "--batch-size", 32,
              "--epochs", 2, "-q", "--set", "keep_checkpoints=100")
    straight = run_cli(*common, "--out", tmp_path / "straight", "--checkpoint-every", 3)
    assert straight.exit_code == 0, straight.output
    middle = tmp_path / "straight" / "checkpoints" / "epoch-0001-step-000003.safetensors"
    assert checkpoint.load_training(middle).step == 3
    resumed = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "-q",
                      "--resume", middle, "--out", tmp_path / "resumed")
    assert resumed.exit_code == 0, resumed.output
    a = checkpoint.load(tmp_path / "straight" / "checkpoints" / "epoch-0001.safetensors")
    b = checkpoint.load(tmp_path / "resumed" / "checkpoints" / "epoch-0001.safetensors")
    assert a.tensors.keys() == b.tensors.keys()
    for key in a.tensors:
        assert torch.equal(a.tensors[key], b.tensors[key]), key
    last = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()[-1]
    first = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["loss_d"] == json.loads(first)["loss_d"]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_saves_a_checkpoint_and_says_how_to_resume(tmp_path, mnist_root, sig, code):
    run_dir = tmp_path / "run"
    proc = start("train", "vanilla-mnist", "--data-dir", mnist_root, "--out", run_dir,
                 "--batch-size", 8, "--epochs", 100000, "--checkpoint-every", 0, "-q")
    wait_for_checkpoint(run_dir, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"{sig.name}: stopped after saving" in err
    assert f"Resume with: ganzoo train vanilla-mnist --resume {run_dir}" in err
    saved = checkpoint.load_training(find_checkpoint(run_dir))
    assert str(saved.path) in err
    target = saved.epoch + 1
    resumed = run_cli("train", "vanilla-mnist", "--resume", run_dir, "--data-dir", mnist_root,
                      "--epochs", target, "-q")
    assert resumed.exit_code == 0, resumed.output
    assert checkpoint.load_training(find_checkpoint(run_dir)).epoch == target


def test_a_second_ctrl_c_stops_at_once_and_damages_nothing(tmp_path, mnist_root):
    run_dir = tmp_path / "run"
    proc = start("train", "vanilla-mnist", "--data-dir", mnist_root, "--out", run_dir,
                 "--batch-size", 8, "--epochs", 100000, "--checkpoint-every", 1, "-q")
    wait_for_checkpoint(run_dir, proc)
    # both signals pending while the process is stopped: on SIGCONT Python handles them
    # one after the other (by number: SIGINT, then SIGTERM), so the second always finds
    # the first still being honoured -- two signals that cannot merge into one
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip() == ("Interrupted again: stopped at once; every checkpoint on disk is "
                           "intact."), err
    assert checkpoints_in(run_dir)
    for path in checkpoints_in(run_dir):
        checkpoint.load_training(path)


def test_sigkill_at_random_moments_never_leaves_a_bad_newest_checkpoint(tmp_path, mnist_root):
    """20 kills, each at a random moment once training is under way (a checkpoint per step,
    so many land mid-write); every time the newest checkpoint loads and the next process
    resumes from it."""
    rng = random.Random(0)
    run_dir = tmp_path / "run"
    args = ("--data-dir", mnist_root, "--batch-size", 8, "--epochs", 100000,
            "--checkpoint-every", 1, "-q")
    positions = []
    for kill in range(20):
        resume = ("--resume", run_dir) if kill else ("--out", run_dir)
        before = newest(run_dir)
        proc = start("train", "vanilla-mnist", *resume, *args)
        wait_for_checkpoint(run_dir, proc, after=before)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        saved = checkpoint.load_training(find_checkpoint(run_dir))
        positions.append((saved.epoch, saved.step))
    assert positions == sorted(positions), positions  # every resume moved forward or stayed
    # keep_checkpoints is 3; a kill between a save and its pruning leaves one more, which the
    # next resume prunes before it trains
    assert len(checkpoints_in(run_dir)) <= 4
    assert positions[-1] > positions[0]
    done = positions[-1][0] + 1
    final = run_cli("train", "vanilla-mnist", "--resume", run_dir, "--data-dir", mnist_root,
                    "--epochs", done, "-q")
    assert final.exit_code == 0, final.output
    assert checkpoint.load_training(find_checkpoint(run_dir)).epoch == done
    assert len(checkpoints_in(run_dir)) <= 3
    assert not list((run_dir / "checkpoints").glob(".*tmp*"))


@pytest.mark.parametrize("policy", ["stop", "continue"])
def test_a_failed_checkpoint_write_keeps_the_previous(tmp_path, mnist_root, monkeypatch,
                                                      policy):
    from ganzoo.core import fileio

    args = ("train", "vanilla-mnist", "--data-dir", mnist_root, "--batch-size", 64, "-q",
            "--out", tmp_path / "run")
    assert run_cli(*args, "--epochs", 1).exit_code == 0
    good = (tmp_path / "run" / "checkpoints" / "epoch-0000.safetensors").read_bytes()
    real_write = fileio.atomic_write_bytes

    def disk_full(path, data):
        if path.parent.name == "checkpoints":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", disk_full)
    result = run_cli("train", "vanilla-mnist", "--resume", tmp_path / "run", "--data-dir",
                     mnist_root, "--epochs", 3, "-q", "--on-save-error", policy)
    assert "Traceback" not in result.output
    assert "No space left on device" in result.output
    assert "epoch-0000.safetensors, is intact" in result.output
    if policy == "stop":
        assert result.exit_code == 2
        assert checkpoint.load(tmp_path / "run" / "generator.safetensors").epoch == 1
    else:  # both failed writes warned about, training finished, the export written
        assert result.exit_code == 0 and result.output.count("training on") == 2
        assert checkpoint.load(tmp_path / "run" / "generator.safetensors").epoch == 3
    assert [p.name for p in checkpoints_in(tmp_path / "run")] == ["epoch-0000.safetensors"]
    assert (tmp_path / "run" / "checkpoints" / "epoch-0000.safetensors").read_bytes() == good


class NaNAfter(ganzoo.GANLoss):
    """The BCE loss until ``calls`` discriminator losses have been computed, then NaN."""

    def __init__(self, calls):
        from ganzoo_vanilla.losses import NonSaturatingBCE

        self.bce, self.left = NonSaturatingBCE(), calls

    def discriminator_loss(self, real_logits, fake_logits):
        self.left -= 1
        loss = self.bce.discriminator_loss(real_logits, fake_logits)
        return loss if self.left >= 0 else loss * float("nan")

    def generator_loss(self, fake_logits):
        return self.bce.generator_loss(fake_logits)


class NaNHooks:
    @ganzoo.hookimpl
    def ganzoo_register_losses(self, register):
        register("nan-after", NaNAfter)


@pytest.mark.parametrize("every", ["0", "1"])
def test_a_nan_loss_stops_and_names_the_last_good_checkpoint(tmp_path, mnist_root, every):
    """4 steps per epoch: epoch 0 is clean, NaN from the 6th step on. With a checkpoint per
    step, the NaN weights are caught at the save; otherwise at the loss check."""
    with in_process_plugin(NaNHooks(), "nan"):
        result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--out",
                         tmp_path / "run", "--epochs", 3, "-q", "--checkpoint-every", every,
                         "--set", "loss=nan-after", "--set", "loss.calls=5")
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "NaN" in result.output or "nan" in result.output
    assert "epoch 1, step" in result.output and "Last good checkpoint:" in result.output
    for path in checkpoints_in(tmp_path / "run"):
        ckpt = checkpoint.load_training(path)
        assert all(torch.isfinite(t).all() for t in ckpt.tensors.values() if t.is_floating_point())
    assert str(checkpoints_in(tmp_path / "run")[-1]) in result.output


class NaNOnce(NaNAfter):
    """NaN exactly once, on the discriminator loss number ``calls + 1``."""

    def discriminator_loss(self, real_logits, fake_logits):
        self.left -= 1
        loss = self.bce.discriminator_loss(real_logits, fake_logits)
        return loss * float("nan") if self.left == -1 else loss


class NaNOnceHooks:
    @ganzoo.hookimpl
    def ganzoo_register_losses(self, register):
        register("nan-once", NaNOnce)
        register("nan-after", NaNAfter)


@pytest.mark.parametrize("loss, finishes", [("nan-once", True), ("nan-after", False)])
def test_rollback_on_nan_reloads_the_last_good_checkpoint_with_half_the_lr(
        tmp_path, mnist_root, loss, finishes):
    with in_process_plugin(NaNOnceHooks(), "nan"):
        result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--out",
                         tmp_path / "run", "--epochs", 3, "-q", "--on-nan", "rollback",
                         "--set", f"loss={loss}", "--set", "loss.calls=5")
    assert "Traceback" not in result.output, result.output
    assert "Rolled back to" in result.output and "epoch-0000.safetensors" in result.output
    if finishes:  # one roll-back, then training goes on to the end with lr 3e-4 / 2
        assert result.exit_code == 0, result.output
        assert result.output.count("Rolled back") == 1
        final = checkpoint.load_training(find_checkpoint(tmp_path / "run"))
        groups = json.loads(final.metadata["optimizers"])
        assert final.epoch == 3
        assert [groups[k][0]["lr"] for k in ("opt_g", "opt_d")] == [1.5e-4, 1.5e-4]
        rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(r)["epoch"] for r in rows] == [0, 1, 2]
    else:  # NaN every time: gives up after MAX_ROLLBACKS with the usual message
        from ganzoo.engine.recovery import MAX_ROLLBACKS

        assert result.exit_code == 2
        assert result.output.count("Rolled back") == MAX_ROLLBACKS
        assert "Last good checkpoint" in result.output.splitlines()[-1]
