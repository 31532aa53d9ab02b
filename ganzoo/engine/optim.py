"""Adam for the training step: torch's fused kernel, without the per-step Python around it.

``torch.optim.Adam(fused=True).step()`` spends about as long in Python (a profiler scope and
hook lookups around every step, grouping tensors by device and dtype, per-parameter state
lookups) as its kernel needs on a small model's weights, and on the CPU it spends four ops
on counting each parameter's step (benchmarks/RESULTS.md has the measurements).
:class:`LeanAdam` is that same optimiser (same state, same ``state_dict``, same results
bit for bit) whose later steps call the kernel directly on tensor lists gathered once and
count every step in one op.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import torch
import torch.optim.optimizer as torch_optimizer

# torch's private names LeanAdam calls (tested with torch 2.4-2.14): where a torch release
# renames one, Adam is torch's own fused Adam, and one line says so
INTERNALS = ("torch._fused_adam_", "torch.optim.optimizer._global_optimizer_pre_hooks",
             "torch.optim.optimizer._global_optimizer_post_hooks",
             "torch.optim.Optimizer.profile_hook_step")
_told = False


def missing_internals() -> list[str]:
    """Those of :data:`INTERNALS` this torch lacks."""
    owners = {"torch": torch, "torch.optim.optimizer": torch_optimizer,
              "torch.optim.Optimizer": torch.optim.Optimizer}
    return [name for name in INTERNALS
            if not hasattr(owners[name.rpartition(".")[0]], name.rpartition(".")[2])]


def adam(params, lr: float, betas: tuple[float, float],
         capturable: bool = False) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch build has one for the device.

    ``capturable`` keeps the step count on the device, as CUDA graph capture needs.
    """
    global _told
    params = list(params)
    extra = {"capturable": True} if capturable else {}
    missing = missing_internals()
    if missing and not _told:
        _told = True
        print(f"ganzoo: warning: torch {torch.__version__} lacks {', '.join(missing)}; "
              "Adam runs as torch.optim.Adam(fused=True), the same updates, slower on "
              "small models", file=sys.stderr)
    try:
        if missing:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True, **extra)
        return LeanAdam(params, lr=lr, betas=betas, fused=True, **extra)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=betas, **extra)


class _Gathered(NamedTuple):
    """What the kernel takes, gathered from the state once."""

    params: list[torch.Tensor]
    exp_avgs: list[torch.Tensor]
    exp_avg_sqs: list[torch.Tensor]
    steps: list[torch.Tensor]  # 0-dim views of `counts`, which are the state's step tensors
    counts: torch.Tensor


class LeanAdam(torch.optim.Adam):
    """Fused Adam whose steps after the first call ``torch._fused_adam_`` directly.

    The direct call is taken only in the plain case this engine creates -- one parameter
    group on one device and dtype, no amsgrad, weight decay or maximize, every parameter
    with a gradient, no step hook registered and no profiler running -- and otherwise
    torch's Adam step runs as usual, hooks and profiler scope included. The first step
    (which creates the state) always goes through torch; loading a state dict or adding a
    group drops the gathered lists.

    Once gathered, the parameters' ``state["step"]`` tensors are views of one vector, so a
    step counts them all with a single ``add_``; torch's own step, where it runs, still
    counts each view on its own.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lists: _Gathered | None = None

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
        if closure is not None or lists is None or self._watched() or not self._plain():
            loss = self._torch_step(closure)  # it updates the tensors gathered before, if any
            self._lists = (lists or self._gather()) if self._plain() else None
            return loss
        grads = [p.grad for p in lists.params]
        if any(g is None for g in grads):
            return self._torch_step(None)
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        lists.counts.add_(1)
        torch._fused_adam_(lists.params, grads, lists.exp_avgs, lists.exp_avg_sqs, [],
                           lists.steps, amsgrad=False, lr=group["lr"], beta1=beta1,
                           beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False)
        return None

    # Marked so that torch does not wrap it in its hook-and-profiler wrapper, which costs as
    # long as the kernel here: a step that a hook or the profiler watches takes torch's path.
    step.hooked = True

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self._lists is None or not set_to_none:
            return super().zero_grad(set_to_none)
        for p in self._lists.params:  # what torch does here, less its profiler scope
            p.grad = None

    def _torch_step(self, closure):
        return _hooked_adam_step(self, closure)

    def _watched(self) -> bool:
        """Whether a step hook or the profiler wants to see this step."""
        return bool(self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                    or _GLOBAL_PRE_HOOKS or _GLOBAL_POST_HOOKS
                    or torch.autograd._profiler_enabled())

    def _plain(self) -> bool:
        if len(self.param_groups) != 1:
            return False
        group = self.param_groups[0]
        return (group["fused"] and not group["amsgrad"] and not group["maximize"]
                and not group["weight_decay"] and not group.get("differentiable")
                and not group.get("decoupled_weight_decay"))

    def _gather(self) -> _Gathered | None:
        """The tensors the kernel needs, when every parameter has its state on one device
        and dtype; None otherwise (torch's own step handles the rest)."""
        params = list(self.param_groups[0]["params"])  # one group: _plain() checks it
        states = [self.state.get(p, {}) for p in params]
        if not params or not all("exp_avg" in s for s in states):
            return None
        steps = [s["step"] for s in states]
        if not (_one_kind(params) and _one_kind(steps)):
            return None
        counts = torch.stack(steps)
        steps = list(counts.unbind())
        for state, step in zip(states, steps, strict=True):
            state["step"] = step
        return _Gathered(params, [s["exp_avg"] for s in states],
                         [s["exp_avg_sq"] for s in states], steps, counts)


def _unhooked(step):
    return step.__wrapped__ if getattr(step, "hooked", False) else step


# torch's Adam step inside torch's wrapper (step hooks, profiler scope), however torch has
# patched Adam.step itself so far (a torch without the wrapper never builds a LeanAdam)
# torch's registries of global step hooks (dicts torch fills in place)
_GLOBAL_PRE_HOOKS = getattr(torch_optimizer, "_global_optimizer_pre_hooks", {})
_GLOBAL_POST_HOOKS = getattr(torch_optimizer, "_global_optimizer_post_hooks", {})
_hooked_adam_step = (torch.optim.Optimizer.profile_hook_step(_unhooked(torch.optim.Adam.step))
                     if not missing_internals() else None)


def _one_kind(tensors: list[torch.Tensor]) -> bool:
    return len({(t.device, t.dtype) for t in tensors}) == 1
