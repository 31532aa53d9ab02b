"""Adam for the training step: torch's fused kernel, without the per-step Python around it.

``torch.optim.Adam(fused=True).step()`` spends about as long in Python (hooks, grouping
tensors by device and dtype, per-parameter state lookups) as its kernel needs on a small
model's weights; on a 2-core CPU that is some 7 % of a vanilla-mnist step. :class:`LeanAdam`
is that same optimiser (same state, same ``state_dict``, same results bit for bit) whose
later steps call the kernel directly on tensor lists gathered once.
"""

from __future__ import annotations

import torch


def adam(params, lr: float, betas: tuple[float, float],
         capturable: bool = False) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch build has one for the device.

    ``capturable`` keeps the step count on the device, as CUDA graph capture needs.
    """
    params = list(params)
    extra = {"capturable": True} if capturable else {}
    try:
        return LeanAdam(params, lr=lr, betas=betas, fused=True, **extra)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=betas, **extra)


class LeanAdam(torch.optim.Adam):
    """Fused Adam whose steps after the first call ``torch._fused_adam_`` directly.

    The direct call is taken only in the plain case this engine creates -- one parameter
    group on one device and dtype, no amsgrad, weight decay or maximize, every parameter
    with a gradient -- and otherwise torch's Adam step runs as usual. The first step (which
    creates the state) always goes through torch; loading a state dict or adding a group
    drops the gathered lists. Step hooks run either way: torch wraps ``step`` with them.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lists: tuple[list, list, list, list] | None = None

    def __setstate__(self, state) -> None:  # a copy or unpickling gathers its own lists
        super().__setstate__(state)
        self._lists = None

    def load_state_dict(self, state_dict) -> None:
        self._lists = None
        super().load_state_dict(state_dict)

    def add_param_group(self, param_group) -> None:
        self._lists = None
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure=None):
        lists = self._lists
        if closure is not None or lists is None or not self._plain():
            loss = self._torch_step(closure)
            self._lists = self._gather()
            return loss
        params, exp_avgs, exp_avg_sqs, steps = lists
        grads = [p.grad for p in params]
        if any(g is None for g in grads):
            return self._torch_step(None)
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False,
                           lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0,
                           eps=group["eps"], maximize=False)
        return None

    def _torch_step(self, closure):
        step = torch.optim.Adam.step
        if getattr(step, "hooked", False):  # torch's hook wrapper: ours already ran them
            step = step.__wrapped__
        return step(self, closure)

    def _plain(self) -> bool:
        if len(self.param_groups) != 1:
            return False
        group = self.param_groups[0]
        return (group["fused"] and not group["amsgrad"] and not group["maximize"]
                and not group["weight_decay"] and not group.get("differentiable")
                and not group.get("decoupled_weight_decay"))

    def _gather(self) -> tuple[list, list, list, list] | None:
        """The tensors the kernel needs, when every parameter has its state on one device
        and dtype; None otherwise (torch's own step handles the rest)."""
        params = list(self.param_groups[0]["params"])  # one group: _plain() checks it
        states = [self.state.get(p, {}) for p in params]
        if not params or not all("exp_avg" in s for s in states):
            return None
        if len({(p.device, p.dtype) for p in params}) != 1:
            return None
        return (params, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                [s["step"] for s in states])
