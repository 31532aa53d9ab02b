"""A folder (or .zip) of image files prepared once into uint8 arrays at one resolution.

Every PNG, JPEG, WebP and BMP under the folder (recursively) is decoded with Pillow, turned
upright by its EXIF orientation, converted to RGB or grayscale (16-bit images scaled, not
clipped), centre-cropped to a square and resized with Lanczos antialiasing. The result is
cached under the data root in ``prepared/<key>/`` -- ``images.npy`` (N, C, R, R),
``labels.npy`` (N,) and ``info.json`` -- where the key hashes the settings and every file's
path, size and modification time, so a changed, added or removed file prepares it anew. A
file that cannot be read is skipped and named, with why.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
LABELS = ("folders", "none")
FORMAT = 1  # of the prepared cache; a new one prepares every folder anew
RESOLUTIONS = range(8, 1025)


class ImageFiles:
    """The image files under ``path`` (a folder or a .zip) at ``resolution`` px square,
    with ``channels`` 3 (RGB) or 1 (grayscale) and ``labels`` "folders" (the first folder of
    each file's path is its class) or "none"; with ``halves``, each file holds two images
    side by side (pix2pix's A and B), prepared as a pair stacked on channels (2C, R, R).
    Scanned when made -- a missing path or one without images is a DataError -- and
    prepared on first use into the data root."""

    def __init__(self, path: str | Path, resolution: int = 64, channels: int = 3,
                 labels: str = "none", halves: bool = False) -> None:
        if not str(path):
            raise DataError("the image folder's path is not set (dataset.path=DIR)")
        if not (isinstance(resolution, int) and resolution in RESOLUTIONS):
            raise ValueError(f"resolution must be a whole number of pixels from 8 to 1024, "
                             f"got {resolution!r}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 3 (RGB) or 1 (grayscale), got {channels!r}")
        self.path = Path(path).expanduser().absolute()
        self.resolution, self.channels, self.labels = resolution, channels, labels
        self.sources = scan(self.path)
        self.classes = classes_of(self.sources, labels)
        self.halves = bool(halves)
        settings = {"resolution": resolution, "channels": channels, "labels": labels,
                    **({"halves": True} if halves else {})}  # the keys folders had before
        self.key = cache_key(self.sources, settings)

    def cache(self, root: Path) -> Path:
        """Where the prepared arrays live under the data root ``root``."""
        return Path(root) / "prepared" / f"images-{self.key}"

    def prepared(self, root: Path, mmap: bool = False) -> Prepared:
        """The prepared images, from the cache or prepared now (a progress bar, one warning
        per file skipped and one with their count)."""
        cached = load(self.cache(root), mmap)
        if cached is not None:
            return cached
        from tqdm import tqdm

        with tqdm(total=len(self.sources), unit="img", desc=f"preparing {self.path.name}",
                  leave=False, file=sys.stderr, disable=None) as bar:
            prepared = prepare(self.sources, self.classes, self.resolution, self.channels,
                               bar.update, self.halves)
        for name, why in prepared.skipped:
            warnings.warn(f"skipped {self.path / name}: {why}", stacklevel=2)
        if prepared.skipped:
            warnings.warn(f"skipped {len(prepared.skipped)} of {prepared.files} image files "
                          f"under {self.path}", stacklevel=2)
        save(prepared, self.cache(root))
        return load(self.cache(root), mmap) if mmap else prepared


@dataclass(frozen=True)
class Source:
    """One image file: its path under the folder (``a/b.png``), and where its bytes are."""

    name: str
    path: Path  # the file, or the .zip that holds it
    member: str | None = None  # its name inside the .zip

    def read(self) -> bytes:
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)

    @property
    def label_folder(self) -> str | None:
        """The first folder of its path (its class under ``labels="folders"``)."""
        parts = self.name.split("/")
        return parts[0] if len(parts) > 1 else None


@dataclass
class Prepared:
    """A prepared folder: uint8 images (N, C, R, R), int64 labels (N,), the class names
    (folder names, sorted) and the files skipped with why."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0  # image files found
    bytes_on_disk: int = 0


def scan(path: Path) -> list[Source]:
    """Every image file under ``path`` (a folder, recursively, or a .zip), sorted by name.
    A missing path, or one with no image files, is a DataError."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"image folder {path} does not exist")
    if path.is_file():
        if not zipfile.is_zipfile(path):
            raise DataError(f"{path} is neither a folder nor a .zip of images")
        with zipfile.ZipFile(path) as archive:
            found = [Source(name, path, name) for name in archive.namelist()
                     if name.lower().endswith(IMAGE_SUFFIXES) and not name.endswith("/")]
    else:
        found = [Source(p.relative_to(path).as_posix(), p) for p in _files(path)
                 if p.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise DataError(f"no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) under "
                        f"{path}")
    return sorted(found, key=lambda s: s.name)


def _files(folder: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith("."):
                yield Path(dirpath) / name


def classes_of(sources: list[Source], labels: str) -> list[str]:
    """The class names: the first-level folders under ``labels="folders"``, else none."""
    if labels not in LABELS:
        raise ValueError(f"labels: choose from {', '.join(LABELS)}; got {labels!r}")
    if labels == "none":
        return []
    loose = [s.name for s in sources if s.label_folder is None]
    if loose:
        raise DataError(f'labels = "folders" takes the class from each image\'s folder, but '
                        f"{len(loose)} images lie outside any (first: {loose[0]}); move "
                        'them into class folders or use labels = "none"')
    return sorted({s.label_folder for s in sources})


def cache_key(sources: list[Source], settings: dict) -> str:
    """A hash of the settings and every file's name, size and modification time."""
    digest = hashlib.sha256(json.dumps({"format": FORMAT, **settings}, sort_keys=True).encode())
    stats: dict[Path, os.stat_result] = {}
    for source in sources:
        stat = stats.setdefault(source.path, source.path.stat())
        digest.update(f"{source.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def decode(data: bytes, resolution: int, channels: int, halves: bool = False) -> np.ndarray:
    """One image file's bytes as uint8 (C, R, R): upright, centre-cropped, resized; with
    ``halves``, its left and right halves so, stacked on channels (2C, R, R)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        image.load()
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16 bits: scale to 8, do not clip
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(wide / 257 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P":  # a palette (with transparency): through RGBA, as Pillow advises
        image = image.convert("RGBA")
    image = image.convert("RGB" if channels == 3 else "L")
    if not halves:
        return square(image, resolution, channels)
    width, height = image.size  # two images side by side: each is cropped and resized
    return np.concatenate([square(image.crop((0, 0, width // 2, height)), resolution, channels),
                           square(image.crop((width // 2, 0, width, height)), resolution,
                                  channels)])


def square(image, resolution: int, channels: int) -> np.ndarray:
    """A Pillow image centre-cropped to a square and resized: uint8 (C, R, R)."""
    from PIL import Image

    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def prepare(sources: list[Source], classes: list[str], resolution: int, channels: int,
            progress: Callable[[int], None] = lambda n: None, halves: bool = False
            ) -> Prepared:
    """Decode every source (``halves``: each a pair side by side); ``progress(1)`` after
    each file."""
    from PIL import Image, UnidentifiedImageError

    index = {name: i for i, name in enumerate(classes)}
    depth = 2 * channels if halves else channels
    images = np.empty((len(sources), depth, resolution, resolution), np.uint8)
    labels = np.zeros(len(sources), np.int64)
    kept, skipped, size = 0, [], 0
    for source in sources:
        try:
            data = source.read()
            size += len(data)
            images[kept] = decode(data, resolution, channels, halves)
        except UnidentifiedImageError:
            skipped.append((source.name, "not an image file Pillow can read"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            skipped.append((source.name, f"{type(exc).__name__}: {exc}"))
        else:
            labels[kept] = index[source.label_folder] if classes else 0
            kept += 1
        progress(1)
    if not kept:
        raise DataError(f"none of the {len(sources)} image files could be read (first: "
                        f"{skipped[0][0]}: {skipped[0][1]})")
    return Prepared(images[:kept], labels[:kept], classes, skipped, len(sources), size)


def save(prepared: Prepared, folder: Path) -> None:
    """Write ``prepared`` to ``folder`` whole or not at all (a temporary folder renamed)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        np.save(tmp / "images.npy", prepared.images)
        np.save(tmp / "labels.npy", prepared.labels)
        info = {"classes": prepared.classes, "skipped": prepared.skipped,
                "files": prepared.files, "bytes_on_disk": prepared.bytes_on_disk}
        (tmp / "info.json").write_text(json.dumps(info, indent=1))
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "info.json").is_file():  # another process may have won the race
            raise


def load(folder: Path, mmap: bool = False) -> Prepared | None:
    """A prepared cache (None: there is none, or it is incomplete); ``mmap`` maps the
    images instead of reading them."""
    try:
        info = json.loads((folder / "info.json").read_text())
        # copy-on-write: a writable array (torch wraps it without a warning), file untouched
        images = np.load(folder / "images.npy", mmap_mode="c" if mmap else None)
        labels = np.load(folder / "labels.npy")
    except (OSError, ValueError):
        return None
    return Prepared(images, labels, info["classes"], [tuple(s) for s in info["skipped"]],
                    info["files"], info["bytes_on_disk"])
