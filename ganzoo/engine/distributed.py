"""Data-parallel training on PyTorch's distributed engine: DDP, launched by ``torchrun``.

``torchrun --nproc-per-node N -m ganzoo train PRESET`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment; each joins
one process group (NCCL on CUDA, gloo on CPU), takes its own device (``cuda:LOCAL_RANK``)
and its own slice of every global batch. Without those variables ganzoo trains in one
process and none of this is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..core.errors import ConfigError

DEFAULT_TIMEOUT_S = 600  # a collective that waits longer than this fails instead of hanging


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = World(rank=0, size=1, local_rank=0)


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) with a world > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: torch.device) -> World:
    """Join the process group torchrun described; returns this process's place in it.

    ``device`` is the device type asked for; on CUDA each rank takes ``cuda:LOCAL_RANK``.
    """
    try:
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"WORLD_SIZE is set but the launcher's {exc} is missing or not a "
                          "number; start distributed runs with torchrun") from None
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"local rank {local_rank} has no GPU: this machine has "
                              f"{torch.cuda.device_count()}; use --nproc-per-node <= that")
        torch.cuda.set_device(local_rank)
    timeout = timedelta(seconds=float(os.environ.get("GANZOO_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timeout)
    return World(rank=rank, size=size, local_rank=local_rank)


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: torch.device, world: World) -> torch.device:
    return torch.device("cuda", world.local_rank) if device.type == "cuda" else device


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DDP: gradients averaged over all ranks in its backward pass (one with
    nothing to train, e.g. a preset's ``none`` discriminator, as it is: DDP refuses it)."""
    from torch.nn.parallel import DistributedDataParallel

    if not any(p.requires_grad for p in module.parameters()):
        return module

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def mean_over_ranks(values: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of ``values`` over all ranks (a copy; unchanged in one process)."""
    if world.size == 1:
        return values
    total = values.detach().clone()
    dist.all_reduce(total)
    return total / world.size


def average_over_ranks(tensors: list[torch.Tensor]) -> None:
    """Replace each tensor, in place, by its mean over all ranks (on the device: no sync)."""
    size = dist.get_world_size()
    for t in tensors:
        dist.all_reduce(t)
        t.div_(size)


def max_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The elementwise maximum of ``values`` over all ranks (e.g. flags: any rank's)."""
    total = values.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.MAX)
    return total
