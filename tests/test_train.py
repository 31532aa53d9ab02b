import json

import torch
from helpers import assert_clean_error, run_cli
from safetensors import safe_open

FAST = ("--set", "batch_size=32", "--set", "sample_every=1", "--quiet")


def train(mnist_root, out, *extra):
    result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--out", out,
                     *FAST, *extra)
    assert result.exit_code == 0, result.output
    return result


def tensors(path, prefix=""):
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}  # noqa: SIM118


def test_run_directory_holds_everything(mnist_root, tmp_path):
    run = tmp_path / "run"
    train(mnist_root, run, "--epochs", "2")
    for name in ("config.json", "metrics.jsonl", "loss.png", "generator.safetensors",
                 "samples/real.png", "samples/epoch-0000.png", "samples/epoch-0001.png",
                 "checkpoints/epoch-0000.safetensors", "checkpoints/epoch-0001.safetensors"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["name"] == "vanilla-mnist" and config["train"]["batch_size"] == 32
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(r["steps"] == 8 and r["samples_per_s"] > 0 and r["loss_d"] > 0 for r in rows)


def test_checkpoint_opens_with_plain_safetensors(mnist_root, tmp_path):
    train(mnist_root, tmp_path / "run", "--epochs", "1")
    path = tmp_path / "run" / "checkpoints" / "epoch-0000.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        keys = set(f.keys())
    assert meta["preset"] == "vanilla-mnist" and meta["format"] == "ganzoo/1"
    assert json.loads(meta["config"])["train"]["batch_size"] == 32
    assert meta["ganzoo_version"] and meta["epoch"] == "1"
    assert {"generator.net.0.weight", "discriminator.net.4.bias", "rng.cpu",
            "opt_g.0.exp_avg", "opt_d.5.exp_avg_sq"} <= keys
    export = tensors(tmp_path / "run" / "generator.safetensors")
    assert all(k.startswith("generator.") for k in export)


def test_resume_is_bitwise_exact(mnist_root, tmp_path):
    train(mnist_root, tmp_path / "straight", "--epochs", "2")
    train(mnist_root, tmp_path / "split", "--epochs", "1")
    result = run_cli("train", "vanilla-mnist", "--resume", tmp_path / "split", "--epochs", "2",
                     "--data-dir", mnist_root, "--quiet")
    assert result.exit_code == 0, result.output
    a = tensors(tmp_path / "straight" / "checkpoints" / "epoch-0001.safetensors")
    b = tensors(tmp_path / "split" / "checkpoints" / "epoch-0001.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [0, 1]


def test_sample_from_run_and_from_checkpoint(mnist_root, tmp_path):
    train(mnist_root, tmp_path / "run", "--epochs", "1")
    result = run_cli("sample", tmp_path / "run", "-n", "16", "-o", tmp_path / "g.png")
    assert result.exit_code == 0, result.output
    assert "wrote 16 samples" in result.output and (tmp_path / "g.png").stat().st_size > 100
    ckpt = tmp_path / "run" / "checkpoints" / "epoch-0000.safetensors"
    from ganzoo.evaluation.sampling import load_generator, sample

    g1, _, _ = load_generator(tmp_path / "run")
    g2, _, epoch = load_generator(ckpt)
    assert epoch == 1
    assert torch.equal(sample(g1, 4, seed=3), sample(g2, 4, seed=3))
    assert not torch.equal(sample(g1, 4, seed=3), sample(g1, 4, seed=4))


def test_overrides_reach_the_model(mnist_root, tmp_path):
    train(mnist_root, tmp_path / "run", "--epochs", "1", "--set", "generator.z_dim=16",
          "--lr", "1e-3", "--seed", "7")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["generator"]["kwargs"]["z_dim"] == 16
    assert config["train"]["lr_g"] == config["train"]["lr_d"] == 1e-3
    assert config["train"]["seed"] == 7
    weight = tensors(tmp_path / "run" / "generator.safetensors")["generator.net.0.weight"]
    assert weight.shape == (256, 16)


def test_resume_refuses_changed_settings_and_keeps_files(mnist_root, tmp_path):
    train(mnist_root, tmp_path / "run", "--epochs", "1")
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    result = run_cli("train", "vanilla-mnist", "--resume", tmp_path / "run", "--batch-size", "8")
    assert_clean_error(result, "only epochs and eval_every may change")
    after = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert before == after


def test_resume_prunes_what_a_kill_left_beyond_keep_checkpoints(mnist_root, tmp_path):
    """A kill between a save and its pruning leaves extra checkpoints; resuming from the
    newest prunes them before training, and resuming from an older one deletes nothing."""
    run = tmp_path / "run"
    train(mnist_root, run, "--epochs", "3", "--set", "keep_checkpoints=2")
    ckpts = run / "checkpoints"
    newest = ckpts / "epoch-0002.safetensors"
    for epoch in (0, 1):  # as if two saves had been cut off before pruning
        (ckpts / f"epoch-{epoch:04d}.safetensors").write_bytes(newest.read_bytes())
    older = ckpts / "epoch-0000.safetensors"
    result = run_cli("train", "vanilla-mnist", "--resume", older, "--data-dir", mnist_root,
                     "--epochs", "1", "-q")
    assert result.exit_code == 0, result.output
    assert len(list(ckpts.glob("*.safetensors"))) == 3  # the one resumed from is kept
    result = run_cli("train", "vanilla-mnist", "--resume", run, "--data-dir", mnist_root,
                     "--epochs", "3", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in ckpts.glob("*.safetensors")) == [
        "epoch-0001.safetensors", "epoch-0002.safetensors"]
