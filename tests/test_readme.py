"""The README's examples run as written: its preset file, its plugin and its callback."""

import re
import types
from pathlib import Path

import ganzoo

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def test_the_readme_variant_plugin_and_preset_file_train(mnist_root, tmp_path, capsys):
    preset_text = next(b for b in blocks("toml") if 'name = "my-gan"' in b)
    plugin_code = next(b for b in blocks("python") if "ganzoo_register_losses" in b)
    callback_code = next(b for b in blocks("python") if "class PrintFID" in b)
    module = types.ModuleType("ganzoo_mine_plugin")
    exec(plugin_code, module.__dict__)
    path = tmp_path / "my-gan.toml"
    path.write_text(preset_text.replace('loss = { name = "bce" }', 'loss = { name = "my-hinge" }'))
    with ganzoo.in_process_plugin(module, "mine"):
        assert ganzoo.list_components("loss", "my-hinge")[0].summary == "relativistic hinge loss"
        # the callback example, with its train call aimed at the small data
        call = 'ganzoo.train("vanilla-mnist", eval_every=5, callbacks=[PrintFID()])'
        assert call in callback_code
        namespace = {"ganzoo": ganzoo}
        exec(callback_code.replace(call, ""), namespace)
        run = ganzoo.train(path, out=tmp_path / "run", data_dir=mnist_root, epochs=1,
                           batch_size=32, eval_every=1, callbacks=[namespace["PrintFID"]()])
        assert run.preset.loss.name == "my-hinge"
        assert run.preset.generator.kwargs["hidden"] == [512, 1024]
        assert re.search(r"^epoch 0: FID \d+\.\d$", capsys.readouterr().out, re.M)


def test_the_readme_notebook_block_runs_as_written(mnist_root, tmp_path, monkeypatch, capsys):
    """The Python section's first block, unchanged, on small data (``$GANZOO_DATA``): 5
    epochs, 16 samples, a report (its evaluator trained on first use), the last record."""
    code = blocks("python")[0]
    assert 'ganzoo.train("vanilla-mnist", epochs=5)' in code
    monkeypatch.setenv("GANZOO_DATA", str(mnist_root))
    monkeypatch.chdir(tmp_path)  # the run directory goes under ./runs/
    namespace = {}
    exec(code, namespace)
    run, images, report = namespace["run"], namespace["images"], namespace["report"]
    assert isinstance(run, ganzoo.Run) and run.root.parent == Path("runs")
    assert [r["epoch"] for r in run.history] == [0, 1, 2, 3, 4]
    assert images.shape == (16, 1, 28, 28) and images.abs().max() <= 1
    assert isinstance(report, ganzoo.Report) and report.generator.fid >= 0
    printed = capsys.readouterr().out
    assert str(report) in printed and str(run.checkpoints[-1]) in printed
