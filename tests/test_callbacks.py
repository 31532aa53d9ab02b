"""Callbacks: the moments a run offers, built-in ones like any other, and one that fails."""

import types

import pytest
from helpers import assert_clean_error, run_cli
from safetensors.torch import load_file

import ganzoo

TINY = {"batch_size": 32, "sample_every": 1}


class Recorder(ganzoo.Callback):
    def __init__(self):
        self.seen = []

    def on_train_start(self, training):
        self.seen.append(("start", training.preset.name, training.start_epoch))

    def on_epoch_end(self, training, record):
        self.seen.append(("epoch", record["epoch"], round(record["loss_d"], 6),
                          len(training.history)))

    def on_checkpoint_saved(self, training, path):
        self.seen.append(("saved", path.name))

    def on_train_end(self, training):
        self.seen.append(("end", (training.root / "generator.safetensors").is_file()))


def test_every_moment_in_order_with_the_epoch_record(mnist_root, tmp_path):
    recorder = Recorder()
    run = ganzoo.train("vanilla-mnist", out=tmp_path / "run", data_dir=mnist_root, quiet=True,
                       epochs=2, callbacks=[recorder], **TINY)
    losses = [round(r["loss_d"], 6) for r in run.history]
    assert recorder.seen == [
        ("start", "vanilla-mnist", 0),
        ("epoch", 0, losses[0], 1), ("saved", "epoch-0000.safetensors"),
        ("epoch", 1, losses[1], 2), ("saved", "epoch-0001.safetensors"),
        ("end", True),
    ]
    # the built-in callbacks ran too
    assert {p.name for p in (run.root / "samples").iterdir()} == {
        "real.png", "epoch-0000.png", "epoch-0001.png"}
    assert (run.root / "loss.png").is_file()


class FailAt(ganzoo.Callback):
    name = "fail-at"

    def __init__(self, epoch=1):
        self.epoch = epoch

    def on_epoch_end(self, training, record):
        if record["epoch"] == self.epoch:
            raise RuntimeError("disk quota")


def test_a_failing_callback_is_named_and_the_run_resumes(mnist_root, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ganzoo.CallbackError) as caught:
        ganzoo.train("vanilla-mnist", out=out, data_dir=mnist_root, quiet=True, epochs=3,
                     callbacks=[FailAt(1)], **TINY)
    message = caught.value.message
    assert "callback fail-at failed in on_epoch_end of epoch 1: RuntimeError: disk quota" in message
    assert "epoch-0000.safetensors, is intact" in message and "--resume" in message
    saved = out / "checkpoints" / "epoch-0000.safetensors"
    assert [p.name for p in ganzoo.load(out).checkpoints] == [saved.name]
    before = load_file(saved)
    run = ganzoo.train("vanilla-mnist", resume=out, data_dir=mnist_root, quiet=True, epochs=3)
    assert [r["epoch"] for r in run.history] == [0, 1, 2]
    straight = ganzoo.train("vanilla-mnist", out=tmp_path / "straight", data_dir=mnist_root,
                            quiet=True, epochs=3, **TINY)
    assert {k: v.equal(before[k]) for k, v in load_file(saved).items()} == dict.fromkeys(before,
                                                                                      True)
    mine, theirs = (load_file(r.checkpoints[-1]) for r in (run, straight))
    assert all(mine[k].equal(theirs[k]) for k in theirs if k.startswith("generator."))


def test_a_preset_names_a_registered_callback(mnist_root, tmp_path):
    calls = []

    class Counter(ganzoo.Callback):
        def on_epoch_end(self, training, record):
            calls.append(record["epoch"])

    hooks = types.SimpleNamespace(ganzoo_register_callbacks=ganzoo.hookimpl(
        lambda register: (register("counter", Counter, summary="counts epochs"),
                          register("fail-at", FailAt, summary="fails"))))
    with ganzoo.in_process_plugin(hooks, "counting"):
        assert "counter" in run_cli("list", "callbacks").output
        result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--out",
                         tmp_path / "run", "--epochs", "2", "--set", "batch_size=32", "-q",
                         "--set", 'callbacks=["counter"]')
        assert result.exit_code == 0, result.output
        assert calls == [0, 1]
        assert ganzoo.load(tmp_path / "run").preset.callbacks[0].name == "counter"
        result = run_cli("train", "vanilla-mnist", "--data-dir", mnist_root, "--out",
                         tmp_path / "bad", "--epochs", "2", "--set", "batch_size=32", "-q",
                         "--set", 'callbacks=[{"name": "fail-at", "kwargs": {"epoch": 0}}]')
        assert_clean_error(result, "callback fail-at failed in on_epoch_end of epoch 0")
        assert len(result.output.strip().splitlines()) == 1
        # --set callbacks replaces the preset's, as apply_overrides does: the failing one
        # a preset file names is gone, the counter runs
        failing = tmp_path / "failing.toml"
        failing.write_text(ganzoo.show_preset("vanilla-mnist") + '\n[[callbacks]]\n'
                           'name = "fail-at"\nkwargs = { epoch = 0 }\n')
        calls.clear()
        result = run_cli("train", failing, "--data-dir", mnist_root, "--out",
                         tmp_path / "replaced", "--epochs", "1", "--set", "batch_size=32", "-q",
                         "--set", 'callbacks=["counter"]')
        assert result.exit_code == 0, result.output
        assert calls == [0]
        assert [c.name for c in ganzoo.load(tmp_path / "replaced").preset.callbacks] == [
            "counter"]
