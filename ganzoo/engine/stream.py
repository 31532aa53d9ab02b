"""Images larger than memory, streamed from a memory-mapped file by a background thread.

Each epoch visits the images in chunks of ``chunk`` consecutive rows, the chunks in random
order and the rows inside each chunk in random order: a chunk is one sequential read of the
file, and a thread gathers each batch from the chunks in memory (flipping where the order
says) ahead of the step, so no Python runs per image and the step rarely waits. The order is
drawn from torch's global CPU RNG like :class:`~.batches.DeviceImages`' (same format, same
resumption in the middle of an epoch); only how rows are grouped differs.
"""

from __future__ import annotations

import atexit
import math
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from .batches import DeviceImages, ImageBatches, Order, jittered, stacked, to_unit_range

CHUNK = 4096  # images per sequential read
AHEAD = 4  # batches gathered ahead of the step


class StreamedImages(ImageBatches):
    """uint8 images (N, C, H, W) in a (memory-mapped) CPU array, batched as
    :class:`DeviceImages` batches them, read chunk by chunk by a background thread; the
    labels live on ``device``."""

    def __init__(self, images: np.ndarray | Tensor, labels: Tensor, device: torch.device,
                 hflip: bool, jitter: int = 0, chunk: int = CHUNK, ahead: int = AHEAD
                 ) -> None:
        self.images = images.numpy() if isinstance(images, Tensor) else images
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"expected uint8 (N, C, H, W) images, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        self.labels, self.device = labels.to(device), device
        self.hflip, self.jitter = hflip, jitter
        self.chunk, self.ahead = int(chunk), int(ahead)

    def order(self) -> Order:
        """Chunks in random order, rows in random order inside each; with ``hflip`` a row
        ``r`` to mirror is given as ``r + N`` (as :class:`DeviceImages` does)."""
        n, c = len(self), self.chunk
        starts = (torch.randperm(math.ceil(n / c)) * c).tolist()
        rows = torch.cat([start + torch.randperm(min(c, n - start)) for start in starts])
        if not self.hflip:
            return self._with_corners(rows, rows)
        return self._with_corners(rows + n * torch.randint(0, 2, (n,)), rows)

    def batches(self, order: Order, batch_size: int, start: int = 0,
                rank: int = 0, world_size: int = 1) -> Iterator[tuple[Tensor, Tensor]]:
        step, order = batch_size * world_size, self._placed(order)

        def rows(i: int) -> list[Tensor]:
            first = i * step + rank * batch_size
            return [order.rows[first:first + batch_size]]

        steps = range(start, self.steps_per_epoch(step))
        for (images,), i in zip(self._gathered(steps, rows), steps, strict=True):
            batch = slice(i * step + rank * batch_size, i * step + (rank + 1) * batch_size)
            images = images.to(self.device, non_blocking=True)
            yield (to_unit_range(jittered(images, order.corners_of(batch), self.jitter)),
                   self.labels.index_select(0, order.labels[batch]))

    def stacked_batches(self, orders: list[Order], batch_size: int,
                        start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        k, order = len(orders), self._placed(stacked(orders))

        def rows(i: int) -> list[Tensor]:
            return list(order.rows[:, i * batch_size:(i + 1) * batch_size])

        steps = range(start, self.steps_per_epoch(batch_size))
        for members, i in zip(self._gathered(steps, rows), steps, strict=True):
            batch = slice(i * batch_size, (i + 1) * batch_size)
            images = torch.cat(members).to(self.device, non_blocking=True)
            images = jittered(images, order.corners_of(batch), self.jitter)
            yield (to_unit_range(images).view(k, batch_size, *images.shape[1:]),
                   self.labels.index_select(0, order.labels[:, batch].reshape(-1))
                   .view(k, batch_size))

    def _placed(self, order: Order) -> Order:
        """``order`` with its label rows and crop corners on the device, moved once an
        epoch; its rows stay on the CPU, for the thread that gathers them."""
        corners = None if order.corners is None else order.corners.to(self.device)
        return order._replace(labels=order.labels.to(self.device), corners=corners)

    def _gathered(self, steps: range, rows: Callable[[int], list[Tensor]]
                  ) -> Iterator[list[Tensor]]:
        """Each step's batches (one per row set ``rows(i)`` gives), gathered by a background
        thread ``ahead`` steps in advance; an error there is raised here."""
        out: queue.Queue = queue.Queue(maxsize=self.ahead)
        stop = threading.Event()
        pin = self.device.type == "cuda"

        def hand(item) -> bool:
            """Queue ``item`` unless told to stop; False: stopped."""
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            reader = _ChunkReader(self.images, self.chunk)
            try:
                for i in steps:
                    batch = [reader.gather(r) for r in rows(i)]
                    if not hand([b.pin_memory() for b in batch] if pin else batch):
                        return
            except BaseException as exc:  # handed to the consumer, raised there
                hand(exc)

        thread = threading.Thread(target=work, name="ganzoo-stream", daemon=True)
        _RUNNING.add((stop, thread))
        thread.start()
        try:
            for _ in steps:
                item = out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:  # an epoch's end, an error, a signal: the thread ends before we go on
            _finish(stop, thread)


# The streaming threads alive: stopped and joined at exit, so none is inside a torch op while
# the interpreter shuts down (which aborts the process).
_RUNNING: set[tuple[threading.Event, threading.Thread]] = set()


def _finish(stop: threading.Event, thread: threading.Thread) -> None:
    stop.set()
    thread.join(timeout=10)
    _RUNNING.discard((stop, thread))


@atexit.register
def _finish_all() -> None:
    for stop, thread in list(_RUNNING):
        _finish(stop, thread)


class _ChunkReader:
    """Reads chunks of consecutive images (one sequential read each), keeping the few a
    batch spans, and gathers a batch's rows from them."""

    def __init__(self, images: np.ndarray, chunk: int, keep: int = 4) -> None:
        self.images, self.chunk, self.keep = images, chunk, keep
        self.n = images.shape[0]
        self.cache: OrderedDict[int, Tensor] = OrderedDict()

    def _chunk(self, index: int) -> Tensor:
        if index in self.cache:
            self.cache.move_to_end(index)
            return self.cache[index]
        start = index * self.chunk
        data = torch.from_numpy(np.array(self.images[start:start + self.chunk]))
        self.cache[index] = data
        while len(self.cache) > self.keep:
            self.cache.popitem(last=False)
        return data

    def gather(self, source_rows: Tensor) -> Tensor:
        """The images of ``source_rows`` (a row + N: mirrored), uint8 (B, C, H, W)."""
        flipped = source_rows >= self.n
        rows = source_rows - self.n * flipped
        chunks = rows // self.chunk
        batch = torch.empty((len(rows), *self.images.shape[1:]), dtype=torch.uint8)
        for index in chunks.unique().tolist():
            where = (chunks == index).nonzero().squeeze(1)
            batch[where] = self._chunk(index).index_select(0, rows[where] - index * self.chunk)
        if flipped.any():
            batch[flipped] = batch[flipped].flip(-1)
        return batch


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable; None where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def training_images(images: Tensor, labels: Tensor, device: torch.device, hflip: bool,
                    stream_above: int | None = None, jitter: int = 0
                    ) -> DeviceImages | StreamedImages:
    """The training split whole on the device when it fits -- its bytes (twice, with
    flips) at most ``stream_above``, by default half the memory available -- else streamed
    from its array (memory-mapped, for a prepared image folder)."""
    size = images.numel() * images.element_size() * (2 if hflip else 1)
    limit = stream_above
    if limit is None:
        available = available_memory()
        limit = available // 2 if available is not None else size
    if size <= limit:
        return DeviceImages(images, labels, device, hflip, jitter)
    return StreamedImages(images, labels, device, hflip, jitter)
