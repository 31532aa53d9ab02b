"""Reading pickled numpy arrays (CIFAR's batches, a wheel's MNIST) without running a
pickle's code: only the globals that rebuild an array are allowed."""

from __future__ import annotations

import pickle
from typing import IO, Any

import numpy as np


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except the three numpy ones that rebuild an array, and
    ``_codecs.encode`` (how a protocol-2 pickle written by Python 3 spells bytes; it only
    converts text, as torch's weights-only unpickler also allows)."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) == ("_codecs", "encode"):
            import codecs

            return codecs.encode
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"),
                              ("numpy._core.multiarray", "_reconstruct")):
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_numpy_pickle(file: IO[bytes], encoding: str = "ASCII") -> Any:
    """Unpickle ``file`` allowing numpy arrays and plain Python data only; a pickle that
    names any other global raises ``pickle.UnpicklingError`` before calling anything.
    ``encoding="latin1"`` reads Python 2 pickles (CIFAR's) as torchvision does."""
    return NumpyOnlyUnpickler(file, encoding=encoding).load()
