"""The papers' datasets, fetched into the data root on first use: pix2pix's facades and
maps (pairs side by side) and CycleGAN's horse2zebra (two domains). Offline, one error says
where to put them."""

from __future__ import annotations

import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from torch import Tensor

from ganzoo import DataError, Dataset

from .folders import PairedFolder, UnpairedFolder

PIX2PIX = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{}.tar.gz"
CYCLEGAN = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{}.zip"


class PapersData(Dataset):
    """One of the papers' datasets at ``resolution`` px, in ``<data root>/translation/<name>``
    (fetched there when missing), read as a paired or an unpaired folder."""

    url: str
    layout: type[Dataset]

    def __init__(self, resolution: int = 256, channels: int = 3, reverse: bool = False
                 ) -> None:
        self.resolution, self.channels, self.reverse = resolution, channels, reverse
        self.sample_shape = (2 * channels, resolution, resolution)
        self._folders: dict[Path, Dataset] = {}

    def folder(self, root: Path) -> Dataset:
        """The dataset's folder under ``root`` as a folder dataset, fetched first if missing."""
        path = Path(root) / "translation" / self.name
        if path not in self._folders:
            if not path.is_dir():
                fetch(self.url.format(self.name), path)
            kwargs = {"reverse": self.reverse} if self.layout is PairedFolder else {}
            self._folders[path] = self.layout(str(path), self.resolution, self.channels,
                                              **kwargs)
        return self._folders[path]

    def load(self, split: str, root: Path) -> tuple[Tensor, Tensor]:
        return self.folder(root).load(split, root)


class Facades(PapersData):
    """pix2pix's CMP facades: 400 label maps and photos, 256 px; ``reverse`` (the paper's
    direction, the default here): label maps to photos."""

    name, url, layout = "facades", PIX2PIX, PairedFolder
    image_pairs = aligned = True

    def __init__(self, resolution: int = 256, channels: int = 3, reverse: bool = True) -> None:
        super().__init__(resolution, channels, reverse)


class Maps(PapersData):
    """pix2pix's maps: 1,096 aerial photos and map tiles (photos to maps)."""

    name, url, layout = "maps", PIX2PIX, PairedFolder
    image_pairs = aligned = True


class HorseToZebra(PapersData):
    """CycleGAN's horse2zebra: 1,067 horses and 1,334 zebras from ImageNet, unpaired."""

    name, url, layout = "horse2zebra", CYCLEGAN, UnpairedFolder
    image_pairs = True


def fetch(url: str, path: Path) -> None:
    """Download the archive at ``url`` and unpack its one top folder as ``path``: whole or
    not at all. Offline, a DataError saying where to put it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        archive = Path(tmp) / url.rsplit("/", 1)[1]
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as f:
                print(f"ganzoo: fetching {url} into {path}", file=sys.stderr)
                shutil.copyfileobj(response, f)
        except OSError as exc:  # URLError, timeouts, a full disk
            raise DataError(f"the {path.name} dataset is not in {path} and could not be "
                            f"fetched ({getattr(exc, 'reason', exc)}); download {url} and "
                            f"unpack it into {path}") from None
        unpacked = Path(tmp) / "unpacked"
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as z:
                z.extractall(unpacked)
        else:
            with tarfile.open(archive) as t:
                t.extractall(unpacked, filter="data")
        tops = [p for p in unpacked.iterdir() if p.is_dir()]
        shutil.move(str(tops[0] if len(tops) == 1 else unpacked), path)
