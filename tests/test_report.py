"""``ganzoo report``: one self-contained HTML page for a run or a comparison of runs."""

import base64
import io
import json
import re

import pytest
from helpers import assert_clean_error, make_mnist_root, run_cli
from PIL import Image

import ganzoo
from ganzoo.evaluation.runpage import SECTIONS

SIZE_LIMIT = 3 * 2**20


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two short runs on small data, one scored every epoch by a cheap evaluator."""
    from ganzoo_vanilla.evaluator import SmallCNN

    root = tmp_path_factory.mktemp("report")
    data = make_mnist_root(root / "data")
    epochs = SmallCNN.epochs
    SmallCNN.epochs = 1
    try:
        made = [ganzoo.train("vanilla-mnist", out=root / name, data_dir=data, epochs=3,
                             batch_size=32, sample_every=1, eval_every=every, seed=seed,
                             quiet=True)
                for name, every, seed in (("scored", 1, 0), ("plain", 0, 1))]
    finally:
        SmallCNN.epochs = epochs
    return made


def images_of(page):
    return [Image.open(io.BytesIO(base64.b64decode(data)))
            for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_training_writes_the_page_and_it_holds_every_section(runs):
    page = (runs[0].root / "report.html").read_text()  # written by the run itself
    for section in SECTIONS:
        assert f"id='{section}'" in page
    assert "http" not in page and "<script" not in page  # nothing to fetch, nothing to run
    grids = images_of(page)
    assert len(grids) == 4  # real, epochs 0-2
    assert all(im.size[0] > 100 for im in grids)  # PNGs that decode
    assert page.count("<svg") >= 4  # losses, FID, classifier score, throughput
    assert "epoch-0002.safetensors" in page
    env = json.loads((runs[0].root / "environment.json").read_text())  # at train time
    assert len(env) == 1 and env[0]["device"].startswith("cpu")
    assert f"<td>{env[0]['torch']}</td>" in page and f"<td>{env[0]['started']}</td>" in page
    speed = runs[0].history[-1]["samples_per_s"]  # for people: 13,680, not 1.368e+04
    assert f"<td>{speed:,.0f}</td>" in page if speed >= 1000 else f"<td>{speed:.4g}</td>" in page


def test_a_comparison_overlays_runs_and_marks_the_best(runs, tmp_path):
    out = tmp_path / "compare.html"
    result = run_cli("report", runs[0].root, runs[1].root, "-o", out)
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert out.stat().st_size < SIZE_LIMIT and "http" not in page
    assert "median" in page and "interquartile range" in page
    assert f"{runs[0].root.name} <strong>(best)</strong>" in page  # the only one with an FID
    assert f"{runs[1].root.name}: loss D" in page  # the curves carry each run's name
    assert len(images_of(page)) == 8
    assert ganzoo.write_run_page(runs[1], tmp_path / "one.html").read_text().count("(best)") == 0


def test_a_folder_that_holds_no_run_is_one_clear_error(tmp_path):
    assert_clean_error(run_cli("report", tmp_path), "not a run directory")


def test_tensorboard_events_hold_the_scalars_images_and_config(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = make_mnist_root(tmp_path / "data")
    result = run_cli("train", "vanilla-mnist", "--data-dir", data, "--out", tmp_path / "run",
                     "--epochs", "2", "--batch-size", "32", "--set", "sample_every=1",
                     "--tensorboard", "--quiet")
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"),
                              size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss/d", "loss/g", "samples_per_s"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("loss/d")] == [0, 1]
    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert events.Scalars("loss/g")[-1].value == pytest.approx(json.loads(rows[-1])["loss_g"])
    assert [e.step for e in events.Images("samples")] == [0, 1]
    assert events.Images("samples")[0].width > 100  # a decoded grid
    assert any(tag.startswith("config") for tag in tags["tensors"])  # the preset, as text


def test_without_tensorboard_the_flag_says_how_to_install_it(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    assert_clean_error(run_cli("train", "vanilla-mnist", "--tensorboard"),
                       "pip install 'ganzoo[tensorboard]'")


def browser():
    """The path of a Chromium that playwright can drive, or a reason there is none."""
    import shutil

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "playwright is not installed (pip install playwright)"
    found = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    return (found, None) if found else (None, "no chromium on PATH (apt install chromium)")


def test_the_page_in_a_real_browser(runs, tmp_path):
    """Headless Chromium at a fixed viewport: no console error, no request but the page
    itself, every section there, every image decoded; a screenshot to look at."""
    path, reason = browser()
    if path is None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    out = ganzoo.write_run_page(runs, tmp_path / "compare.html")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1200, "height": 900})
            errors, requests = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri(), wait_until="load")
            sections = page.evaluate("[...document.querySelectorAll('section')].map(s => s.id)")
            decoded = page.evaluate("[...document.images].map(i => i.complete && "
                                    "i.naturalWidth > 0)")
            charts = page.evaluate("document.querySelectorAll('svg').length")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            chromium.close()
    assert errors == [] and requests == [out.as_uri()]
    assert sections == list(SECTIONS)
    assert len(decoded) == 8 and all(decoded) and charts >= 4
    assert Image.open(tmp_path / "report.png").size[0] == 1200
