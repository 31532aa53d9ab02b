"""Choosing the device to train or sample on."""

from __future__ import annotations

import torch

from ..core.errors import ConfigError


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``None``: CUDA when available, else the CPU; otherwise the device named, checked."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {str(name)!r} requested but CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device type {device.type!r} is not supported; use cpu or cuda")
    return device
