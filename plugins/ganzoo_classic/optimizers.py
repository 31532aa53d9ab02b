"""RMSprop and SGD as registered optimizers (torch's foreach kernels)."""

from __future__ import annotations

import torch


def rmsprop(params, *, lr: float, betas=None, capturable: bool = False, alpha: float = 0.99,
            eps: float = 1e-8, momentum: float = 0.0) -> torch.optim.RMSprop:
    """RMSprop (WGAN's optimizer); the preset's betas do not apply."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                               foreach=True, capturable=capturable)


def sgd(params, *, lr: float, betas=None, capturable: bool = False,
        momentum: float = 0.0, nesterov: bool = False) -> torch.optim.SGD:
    """SGD, with optional (Nesterov) momentum; the preset's betas do not apply."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, foreach=True)
