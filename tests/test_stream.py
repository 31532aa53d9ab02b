"""Images larger than memory: streamed in shuffled chunks by a thread, batched as in memory."""

import numpy as np
import pytest
import torch
from helpers import run_cli
from safetensors.torch import load_file
from test_folders import make_mixed_folder

from ganzoo.engine.batches import DeviceImages
from ganzoo.engine.stream import StreamedImages, training_images

CPU = torch.device("cpu")


def numbered(n=50):
    """Images whose top corners hold their row number (so mirrored too) and whose left
    column below them is bright, and labels equal to the row number."""
    images = np.zeros((n, 1, 4, 4), np.uint8)
    images[:, 0, 0, 0] = images[:, 0, 0, 3] = np.arange(n)
    images[:, 0, 1:, 0] = 200
    return images, torch.arange(n)


def _rows(batch):
    return ((batch[:, 0, 0, 0] + 1) * 127.5).round().long()


@pytest.mark.parametrize("hflip", [False, True])
def test_an_epoch_streams_every_image_once_in_chunks_with_its_label(hflip):
    images, labels = numbered()
    data = StreamedImages(images, labels, CPU, hflip, chunk=8, ahead=2)
    torch.manual_seed(0)
    order = data.order()
    seen, flips = [], []
    for batch, batch_labels in data.batches(order, 5):
        rows = _rows(batch)
        assert torch.equal(rows, batch_labels)  # each image with its own label
        seen += rows.tolist()
        flips += (batch[:, 0, 1, 0] < 0).tolist()  # the bright column moved right
    assert sorted(seen) == list(range(50))
    chunks = [r // 8 for r in order[1].tolist()]  # rows of one chunk come together
    assert sum(a != b for a, b in zip(chunks, chunks[1:], strict=False)) == 6
    assert any(flips) == hflip and flips == (order[0] >= 50).tolist()


def test_ranks_and_members_take_their_own_rows():
    images, labels = numbered(48)
    data = StreamedImages(images, labels, CPU, False, chunk=16)
    torch.manual_seed(1)
    order = data.order()
    ranks = [[_rows(b).tolist() for b, _ in data.batches(order, 4, rank=r, world_size=2)]
             for r in range(2)]
    flat = sorted(r for rank in ranks for batch in rank for r in batch)
    assert flat == list(range(48))
    orders = [data.order(), data.order()]
    for batch, batch_labels in data.stacked_batches(orders, 6, start=2):
        assert batch.shape == (2, 6, 1, 4, 4) and torch.equal(_rows(batch.flatten(0, 1)),
                                                               batch_labels.flatten())


def test_an_error_in_the_thread_is_raised_in_the_loop():
    class Broken(np.ndarray):
        def __getitem__(self, key):
            raise OSError("disk gone")

    images = np.zeros((20, 1, 4, 4), np.uint8).view(Broken)
    data = StreamedImages(images, torch.zeros(20, dtype=torch.long), CPU, False, chunk=8)
    with pytest.raises(OSError, match="disk gone"):
        list(data.epoch(4))


def test_the_split_streams_only_beyond_the_limit():
    images, labels = numbered()
    tensor = torch.from_numpy(images)
    assert isinstance(training_images(tensor, labels, CPU, False, 800), DeviceImages)
    assert isinstance(training_images(tensor, labels, CPU, True, 800), StreamedImages)
    assert isinstance(training_images(tensor, labels, CPU, False), DeviceImages)  # auto


def test_a_streamed_folder_trains_and_resumes_bitwise(tmp_path):
    folder = make_mixed_folder(tmp_path / "images", n=40)
    sets = ("--set", f"dataset.path={folder}", "--set", "dataset.resolution=16",
            "--set", "batch_size=8", "--checkpoint-every", "0", "--stream-above", "0",
            "--data-dir", tmp_path)
    straight, split = tmp_path / "straight", tmp_path / "split"
    for out, epochs in ((straight, "2"), (split, "1"), (split, "2")):
        where = ("--resume", out) if out == split and epochs == "2" else ("--out", out)
        result = run_cli("train", "dcgan-folder", *where, "--epochs", epochs, *sets)
        assert result.exit_code == 0, result.output
        assert "Streaming the 41 training images from disk" in result.output
    a = load_file(straight / "checkpoints" / "epoch-0001.safetensors")
    b = load_file(split / "checkpoints" / "epoch-0001.safetensors")
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    pop = run_cli("train", "dcgan-folder", "--out", tmp_path / "pop", "--population", "2",
                  "--epochs", "1", *sets)
    assert pop.exit_code == 0 and "one vectorised step" in pop.output, pop.output


def test_stream_above_takes_sizes_and_refuses_nonsense(tmp_path):
    from ganzoo.engine.options import RunOptions

    assert RunOptions(stream_above="512MB").stream_above == 512_000_000
    assert RunOptions(stream_above="auto").stream_above is None
    assert RunOptions(stream_above=0).stream_above == 0
    result = run_cli("train", "vanilla-mnist", "--stream-above", "lots")
    assert result.exit_code == 2 and "stream_above: expected a size" in result.output


def test_jitter_enlarges_each_image_and_crops_it_back_at_its_own_corner():
    torch.manual_seed(3)
    side = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8)
    images = torch.cat([side, side], 1)  # a pair whose sides are alike: same crop expected
    data = DeviceImages(images, torch.arange(12), CPU, hflip=True, jitter=3)
    order = data.order()
    assert order.corners.shape == (12, 2) and order.corners.min() >= 0
    assert order.corners.max() <= 3 and len(order.corners.unique(dim=0)) > 1
    for i, (batch, batch_labels) in enumerate(data.batches(order, 4)):
        for j, label in enumerate(batch_labels.tolist()):
            at = i * 4 + j
            image = images[label].flip(-1) if order.rows[at] >= 12 else images[label]
            big = torch.nn.functional.interpolate(image[None].float(), size=(11, 11),
                                                  mode="bicubic", align_corners=False)
            y, x = order.corners[at].tolist()
            crop = big[0, :, y:y + 8, x:x + 8].clamp(0, 255).round() / 127.5 - 1
            assert torch.allclose(batch[j], crop, atol=1e-6)
            assert torch.equal(batch[j, 0], batch[j, 1])


def test_without_jitter_nothing_more_is_drawn():
    images, labels = numbered()
    torch.manual_seed(4)
    order = DeviceImages(torch.from_numpy(images), labels, CPU, hflip=True).order()
    after = torch.rand(1)
    torch.manual_seed(4)
    torch.randperm(50)  # the order's draws without jitter: rows, then flips
    torch.randint(0, 2, (50,))
    assert order.corners is None and torch.equal(after, torch.rand(1))


def test_streamed_jittered_batches_equal_those_in_memory_for_runs_and_members():
    torch.manual_seed(5)
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(40)
    memory = DeviceImages(images, labels, CPU, hflip=True, jitter=2)
    streamed = StreamedImages(images.numpy(), labels, CPU, hflip=True, jitter=2, chunk=16)
    orders = [streamed.order(), streamed.order()]
    for a, b in zip(memory.batches(orders[0], 8, start=1, rank=1, world_size=2),
                    streamed.batches(orders[0], 8, start=1, rank=1, world_size=2),
                    strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for a, b in zip(memory.stacked_batches(orders, 8), streamed.stacked_batches(orders, 8),
                    strict=True):
        assert a[0].shape == (2, 8, 3, 8, 8) and torch.equal(a[0], b[0])
        assert torch.equal(a[1], b[1])
    member = list(memory.batches(orders[1], 8))
    stacked = list(memory.stacked_batches(orders, 8))
    assert all(torch.equal(m[0], s[0][1]) for m, s in zip(member, stacked, strict=True))
