"""Reading and writing IDX files (the MNIST format), validated before anything is allocated."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .fileio import atomic_write_bytes

_UINT8 = 0x08
_MAX_DIMS = 4
_MAX_ELEMENTS = 2**31  # refuse headers that would allocate absurd amounts of memory


def read_idx(path: Path) -> torch.Tensor:
    """Read an unsigned-byte IDX file (raw or .gz) into a uint8 tensor."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    where = f"corrupt IDX file {path}"
    if len(data) < 4:
        raise DataError(f"{where}: only {len(data)} bytes")
    zero, dtype, ndim = data[0:2], data[2], data[3]
    if zero != b"\0\0" or dtype != _UINT8 or not 1 <= ndim <= _MAX_DIMS:
        raise DataError(f"{where}: bad magic number {data[:4].hex()} (expected unsigned bytes)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{where}: truncated header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    count = int(np.prod(shape, dtype=np.int64))
    if count > _MAX_ELEMENTS:
        raise DataError(f"{where}: header claims {count:,} values")
    if len(data) - header != count:
        raise DataError(f"{where}: header says {count:,} bytes of data, file has "
                        f"{len(data) - header:,}. Delete it to fetch it again.")
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
    return torch.from_numpy(array.copy())


def write_idx(path: Path, tensor: torch.Tensor | np.ndarray) -> None:
    """Write a uint8 array as an IDX file, atomically (no half-written file is ever visible)."""
    array = np.ascontiguousarray(np.asarray(tensor), dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, _UINT8, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    atomic_write_bytes(Path(path), header + array.tobytes())
