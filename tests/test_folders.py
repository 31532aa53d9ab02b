"""Your own images: a folder of mixed files prepared, cached, skipped where broken, trained."""

import io
import json
import os
import warnings
import zipfile

import numpy as np
import pytest
import torch
from helpers import assert_clean_error, run_cli
from PIL import Image

import ganzoo
from ganzoo.core.folders import decode

QUICK = ("--set", "batch_size=8", "--set", "sample_every=1", "--checkpoint-every", "0",
         "--quiet")


def _save(path, image, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kw)


def make_mixed_folder(root, n=12):
    """Two class folders of images of mixed sizes, formats and modes, and three broken
    files: a truncated JPEG, a text file named .png, and (outside the counts) a README."""
    rng = np.random.default_rng(0)

    def noise(h, w, c=3):
        return rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)

    for i in range(n):
        cls = "cats" if i % 2 else "dogs"
        kind = i % 6
        if kind == 0:
            _save(root / cls / f"{i}.jpg", Image.fromarray(noise(40, 30)), quality=90)
        elif kind == 1:
            _save(root / cls / f"{i}.png", Image.fromarray(noise(50, 20, 1), "L"))
        elif kind == 2:
            _save(root / cls / f"{i}.png", Image.fromarray(noise(33, 33, 4), "RGBA"))
        elif kind == 3:
            _save(root / cls / f"{i}.png", Image.fromarray(noise(24, 36)).convert("P"))
        elif kind == 4:
            _save(root / cls / "deeper" / f"{i}.webp", Image.fromarray(noise(64, 48)))
        else:
            _save(root / cls / f"{i}.bmp", Image.fromarray(noise(16, 16)))
    wide = (rng.integers(0, 65536, (20, 20))).astype(np.uint16)
    _save(root / "cats" / "sixteen.png", Image.fromarray(wide))
    jpeg = io.BytesIO()
    Image.fromarray(noise(32, 32)).save(jpeg, "JPEG")
    (root / "dogs" / "truncated.jpg").write_bytes(jpeg.getvalue()[:200])
    (root / "dogs" / "notes.png").write_text("not an image")
    (root / "README.txt").write_text("ignored: not an image suffix")
    return root


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return make_mixed_folder(tmp_path_factory.mktemp("folders") / "images")


def test_decode_turns_crops_resizes_and_scales_sixteen_bits():
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[10:30] = 200  # the centre square, all bright
    out = decode(_bytes(Image.fromarray(tall), "PNG"), 8, 3)
    assert out.shape == (3, 8, 8) and out.min() >= 190
    wide = np.full((8, 8), 65535, np.uint16)
    assert decode(_bytes(Image.fromarray(wide), "PNG"), 8, 1).min() == 255
    half = np.full((8, 8), 32768, np.uint16)
    assert decode(_bytes(Image.fromarray(half), "PNG"), 8, 1).max() == 128
    # EXIF orientation 6 (rotate 90 clockwise to view): a landscape file shows portrait
    marked = np.zeros((10, 20, 3), np.uint8)
    marked[:, :10] = 255  # the left half bright
    image = Image.fromarray(marked)
    exif = image.getexif()
    exif[0x0112] = 6
    upright = decode(_bytes(image, "JPEG", exif=exif.tobytes()), 10, 1)[0]
    assert upright[:5].mean() > 200 and upright[5:].mean() < 50  # left became the top


def _bytes(image, fmt, **kw):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()


def test_a_mixed_folder_is_prepared_once_skipping_and_naming_broken_files(mixed, tmp_path):
    files = ganzoo.ImageFiles(mixed, resolution=32, channels=3, labels="folders")
    assert files.classes == ["cats", "dogs"] and len(files.sources) == 15
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        prepared = files.prepared(tmp_path)
    messages = [str(w.message) for w in seen]
    assert prepared.images.shape == (13, 3, 32, 32) and prepared.images.dtype == np.uint8
    assert sorted(name for name, _ in prepared.skipped) == ["dogs/notes.png",
                                                             "dogs/truncated.jpg"]
    assert sum("skipped " + str(mixed / "dogs") in m for m in messages) == 2
    assert any(m.endswith("notes.png: not an image file Pillow can read") for m in messages)
    assert messages[-1] == f"skipped 2 of 15 image files under {mixed}"
    assert sorted(np.bincount(prepared.labels).tolist()) == [6, 7]
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        cached = files.prepared(tmp_path)  # from the cache: no decoding, no warnings
    assert not again and np.array_equal(cached.images, prepared.images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same two files again
        gray = ganzoo.ImageFiles(mixed, resolution=16, channels=1).prepared(tmp_path)
    assert gray.images.shape == (13, 1, 16, 16) and not gray.labels.any()


def test_a_changed_added_or_removed_file_prepares_the_folder_anew(tmp_path):
    folder = make_mixed_folder(tmp_path / "images", n=6)
    key = ganzoo.ImageFiles(folder, 16).key
    target = folder / "dogs" / "0.jpg"
    os.utime(target, ns=(0, target.stat().st_mtime_ns + 10**9))
    changed = ganzoo.ImageFiles(folder, 16).key
    _save(folder / "dogs" / "new.png", Image.new("RGB", (8, 8)))
    added = ganzoo.ImageFiles(folder, 16).key
    (folder / "dogs" / "new.png").unlink()
    (folder / "dogs" / "notes.png").unlink()
    removed = ganzoo.ImageFiles(folder, 16).key
    assert len({key, changed, added, removed}) == 4
    assert ganzoo.ImageFiles(folder, 32).key != removed  # the settings are in the key too


def test_a_zip_of_images_is_a_folder(mixed, tmp_path):
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(mixed.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(mixed).as_posix())
    zipped = ganzoo.ImageFiles(archive, 32, labels="folders")
    plain = ganzoo.ImageFiles(mixed, 32, labels="folders")
    assert [s.name for s in zipped.sources] == [s.name for s in plain.sources]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = zipped.prepared(tmp_path / "a"), plain.prepared(tmp_path / "b")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


def test_a_folder_trains_one_epoch_at_32_px_and_resumes(mixed, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sets = ("--set", f"dataset.path={mixed}", "--set", "dataset.resolution=32")
    result = run_cli("train", "dcgan-folder", "--data-dir", data, "--out", tmp_path / "run",
                     "--epochs", "1", *sets, *QUICK)
    assert result.exit_code == 0, result.output
    assert result.output.count("Warning: skipped") == 3  # two files, then their count
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["generator"]["kwargs"]["out_shape"] == [3, 32, 32]  # from the data
    assert config["discriminator"]["kwargs"]["in_shape"] == [3, 32, 32]
    assert len(list((data / "prepared").iterdir())) == 1
    again = run_cli("train", "--resume", tmp_path / "run", "--epochs", "2", "--data-dir", data,
                    "--quiet")
    assert again.exit_code == 0, again.output
    assert "Warning" not in again.output  # the cache was reused
    grid = tmp_path / "grid.png"
    assert run_cli("sample", tmp_path / "run", "-n", "4", "-o", grid).exit_code == 0
    assert Image.open(grid).mode == "RGB"
    first = mixed / "dogs" / "0.jpg"  # a changed file: prepared anew, in a cache of its own
    os.utime(first, ns=(0, first.stat().st_mtime_ns + 10**9))
    changed = run_cli("train", "dcgan-folder", "--data-dir", data, "--out", tmp_path / "new",
                      "--epochs", "1", *sets, *QUICK)
    assert changed.exit_code == 0 and changed.output.count("Warning: skipped") == 3
    assert len(list((data / "prepared").iterdir())) == 2


def test_folder_labels_reach_a_conditional_preset(mixed, tmp_path):
    result = run_cli("train", "dcgan-folder", "--data-dir", tmp_path, "--out",
                     tmp_path / "run", "--epochs", "1", "--set", f"dataset.path={mixed}",
                     "--set", "dataset.resolution=32", "--set", "dataset.labels=folders",
                     "--set", "generator.num_classes=2", "--set",
                     "discriminator.num_classes=2", *QUICK)
    assert result.exit_code == 0, result.output
    run = ganzoo.load(tmp_path / "run")
    assert run.sample(4, seed=0, labels=torch.tensor([0, 1, 0, 1])).shape == (4, 3, 32, 32)


@pytest.mark.parametrize("what", ["empty", "missing", "no images", "unset"])
def test_an_empty_or_missing_folder_is_one_error_and_writes_nothing(what, tmp_path):
    folder = tmp_path / "images"
    if what != "missing":
        folder.mkdir()
    if what == "no images":
        (folder / "notes.txt").write_text("nothing to see")
    path = "" if what == "unset" else str(folder)
    result = run_cli("train", "dcgan-folder", "--data-dir", tmp_path, "--out",
                     tmp_path / "run", "--set", f"dataset.path={path}")
    assert_clean_error(result, "dataset 'image-folder'")
    assert result.exit_code == 2
    assert [line[:6] for line in result.output.splitlines()] == ["Error:"]
    assert not (tmp_path / "run").exists() and not (tmp_path / "prepared").exists()


def test_data_check_shows_counts_classes_skips_and_a_grid(mixed, tmp_path):
    grid = tmp_path / "seen.png"
    result = run_cli("data", "check", mixed, "--resolution", "16", "--labels", "folders",
                     "--data-dir", tmp_path, "-o", grid)
    assert result.exit_code == 0, result.output
    assert "13 images prepared at 16x16 RGB (15 image files, 2 skipped)" in result.output
    assert "2 classes: cats 7, dogs 6" in result.output
    assert "dogs/notes.png: not an image file Pillow can read" in result.output
    assert Image.open(grid).size == (4 * 18 + 2, 4 * 18 + 2)  # 13 images, 4 per row
    again = run_cli("data", "check", mixed, "--resolution", "16", "--labels", "folders",
                    "--data-dir", tmp_path, "-o", grid)
    assert "Warning" not in again.output and "2 skipped" in again.output  # from the cache
    missing = run_cli("data", "check", tmp_path / "nothing", "--data-dir", tmp_path)
    assert_clean_error(missing, "does not exist")


def test_eval_of_an_unlabelled_folder_says_what_would_apply(mixed, tmp_path, monkeypatch):
    from ganzoo.evaluation import inception

    run = tmp_path / "run"
    result = run_cli("train", "dcgan-folder", "--data-dir", tmp_path, "--out", run,
                     "--epochs", "1", "--set", f"dataset.path={mixed}",
                     "--set", "dataset.resolution=16", *QUICK)
    assert result.exit_code == 0, result.output
    scored = run_cli("eval", run, "--data-dir", tmp_path, "--features", "domain")
    assert_clean_error(scored, "names no evaluator network", "dataset.labels=folders")
    monkeypatch.setattr(inception, "WEIGHTS_URL", "http://127.0.0.1:9/weights.pth")
    scored = run_cli("eval", run, "--data-dir", tmp_path)  # the default: Inception features
    assert_clean_error(scored, "could not be fetched", "--inception-weights FILE")
