"""One loop for a run and a population: every behaviour of the loop, checked with the same
assertions for a solo run and for ``population=2`` (each member a run of its own)."""

import os
import shutil
import signal
import types

import pytest
import torch
from helpers import make_mnist_root
from safetensors.torch import load_file

import ganzoo
from ganzoo.core import fileio
from ganzoo.engine import checkpoint
from ganzoo.engine.rundir import checkpoints_in

MODES = {"solo": {}, "population": {"population": 2}}
EPOCHS = 2
STEPS = 16  # 256 images in batches of 16
SETTINGS = {"epochs": EPOCHS, "batch_size": 16, "sample_every": 1, "eval_every": 1,
            "keep_checkpoints": 100, "quiet": True, "checkpoint_every": 5,
            "callbacks": ["recorder", ganzoo.TensorBoard],
            "schedule_g": {"name": "step-decay", "kwargs": {"every": 1, "gamma": 0.5}}}
PRESET = "began-mnist"  # an objective with state (k, the convergence measure) in its records


class Recorder(ganzoo.Callback):
    """Logs every moment it sees with the run it was called for, into ``Recorder.log``."""

    log: list = []

    def on_train_start(self, training):
        self.log.append((id(self), training.root.name, "start"))

    def on_epoch_end(self, training, record):
        self.log.append((id(self), training.root.name, "epoch", record["epoch"]))

    def on_checkpoint_saved(self, training, path):
        self.log.append((id(self), training.root.name, "saved", path.name))

    def on_train_end(self, training):
        self.log.append((id(self), training.root.name, "end"))


PLUGIN = types.SimpleNamespace(ganzoo_register_callbacks=ganzoo.hookimpl(
    lambda register: register("recorder", Recorder, summary="logs every moment")))


def runs_of(result):
    """The run directories a result holds: the run, or each member's."""
    return result.members if isinstance(result, ganzoo.Population) else [result]


def train(mode, **kwargs):
    from ganzoo_vanilla.evaluator import SmallCNN

    epochs = SmallCNN.epochs
    SmallCNN.epochs = 1  # the domain evaluator eval_every uses, trained quickly
    try:
        with ganzoo.in_process_plugin(PLUGIN, "recorder"):
            return ganzoo.train(PRESET, **{**SETTINGS, **MODES[mode], **kwargs})
    finally:
        SmallCNN.epochs = epochs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_mnist_root(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module", params=list(MODES))
def trained(request, data, tmp_path_factory):
    """One run (or population) per mode with every loop feature on, trained once."""
    Recorder.log.clear()
    result = train(request.param, out=tmp_path_factory.mktemp(request.param) / "run",
                   data_dir=data)
    return request.param, result, list(Recorder.log)


def test_the_presets_callbacks_are_built_per_run_and_see_every_moment(trained):
    mode, result, log = trained
    runs = runs_of(result)
    instances = {entry[0] for entry in log}
    assert len(instances) == len(runs)  # each member its own instance
    for instance in instances:
        seen = [entry[1:] for entry in log if entry[0] == instance]
        root = seen[0][0]
        assert seen == [(root, "start"),
                        (root, "epoch", 0), (root, "saved", "epoch-0000.safetensors"),
                        (root, "epoch", 1), (root, "saved", "epoch-0001.safetensors"),
                        (root, "end")]
    assert sorted(entry[1] for entry in log if entry[2] == "start") == sorted(
        run.root.name for run in runs)


def test_each_record_holds_losses_state_rates_and_quality(trained):
    mode, result, _ = trained
    for run in runs_of(result):
        assert [r["epoch"] for r in run.history] == list(range(EPOCHS))
        for record in run.history:
            assert {"loss_d", "loss_g", "samples_per_s", "time_s", "steps", "state_k",
                    "state_convergence", "lr_g"} <= record.keys(), record
            assert record["quality"]["fid"] > 0  # eval_every=1: scored at every epoch
        assert [r["lr_g"] for r in run.history] == pytest.approx([1e-4, 5e-5])
        assert (run.root / "report.html").is_file()  # the page, each run its own


def test_checkpoint_every_saves_inside_epochs(trained):
    mode, result, _ = trained
    names = [p.name for p in checkpoints_in(result.root)]
    inside = [f"epoch-{e:04d}-step-{s:06d}.safetensors" for e in range(EPOCHS)
              for s in (5, 10, 15)]
    assert set(inside) <= set(names)
    assert {"epoch-0000.safetensors", "epoch-0001.safetensors"} <= set(names)


def test_each_run_has_its_own_tensorboard_events_with_every_epoch(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    mode, result, _ = trained
    for run in runs_of(result):
        events = EventAccumulator(str(run.root / "tensorboard"), size_guidance={"scalars": 0})
        events.Reload()
        assert [e.step for e in events.Scalars("loss/d")] == list(range(EPOCHS))
        assert events.Scalars("loss/g")[-1].value == pytest.approx(run.history[-1]["loss_g"])


def test_resuming_inside_an_epoch_is_bitwise_the_straight_run(trained, data, tmp_path):
    mode, result, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(result.root, copy)
    middle = copy / "checkpoints" / "epoch-0001-step-000010.safetensors"
    for later in checkpoints_in(copy)[checkpoints_in(copy).index(middle) + 1:]:
        later.unlink()
    resumed = train(mode, resume=middle, data_dir=data, callbacks=[])  # the preset's own
    mine, theirs = (load_file(checkpoints_in(r.root)[-1]) for r in (resumed, result))
    assert mine.keys() == theirs.keys()
    for key in theirs:
        if key.startswith(("generator.", "discriminator.", "objective_state.")):
            assert torch.equal(mine[key], theirs[key]), key
    for a, b in zip(runs_of(resumed), runs_of(result), strict=True):
        assert [r["loss_g"] for r in a.history] == [r["loss_g"] for r in b.history]


class InterruptAfterFirstEpoch(ganzoo.Callback):
    """Sends this process SIGINT once, at the end of epoch 0 (as Ctrl-C would)."""

    sent = False

    def on_epoch_end(self, training, record):
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("mode", list(MODES))
def test_sigint_saves_and_the_hint_names_every_flag_needed(mode, data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ganzoo.Interrupted) as caught:
        train(mode, out=out, data_dir=data, device="cpu", checkpoint_every=0, eval_every=0,
              callbacks=["recorder", InterruptAfterFirstEpoch()])
    assert caught.value.exit_code == 130
    assert (f"SIGINT: stopped after saving {out / 'checkpoints' / 'epoch-0000.safetensors'}. "
            f"Resume with: ganzoo train {PRESET} --resume {out} --data-dir {data} "
            "--device cpu") in caught.value.message
    resumed = train(mode, resume=out, data_dir=data, device="cpu", checkpoint_every=0,
                    eval_every=0, callbacks=[])
    assert [[r["epoch"] for r in run.history] for run in runs_of(resumed)] == [
        list(range(EPOCHS))] * len(runs_of(resumed))


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("policy", ["stop", "continue"])
def test_a_failed_checkpoint_write_stops_or_trains_on_as_asked(mode, policy, data, tmp_path,
                                                               monkeypatch):
    real_write = fileio.atomic_write_bytes

    def disk_full(path, payload):
        if path.name == "epoch-0000.safetensors":
            raise OSError(28, "No space left on device")
        real_write(path, payload)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", disk_full)
    args = {"out": tmp_path / "run", "data_dir": data, "checkpoint_every": 0, "eval_every": 0,
            "on_save_error": policy, "callbacks": []}
    if policy == "stop":
        with pytest.raises(ganzoo.TrainingError, match="No space left on device"):
            train(mode, **args)
        assert not checkpoints_in(tmp_path / "run")
        return
    result = train(mode, **args)
    assert [p.name for p in checkpoints_in(result.root)] == ["epoch-0001.safetensors"]
    assert all(len(run.history) == EPOCHS for run in runs_of(result))
