"""LeanAdam is torch's fused Adam, bit for bit, with the same state and state_dict."""

import copy

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ganzoo.engine.optim import LeanAdam, adam


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.LeakyReLU(0.1), nn.Linear(16, 3))


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: int, seed: int = 1) -> None:
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 12, generator=gen)
        opt.zero_grad(set_to_none=True)
        model(x).square().mean().backward()
        opt.step()


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _same_state(opt: torch.optim.Optimizer, ref: torch.optim.Optimizer) -> bool:
    mine, theirs = opt.state_dict()["state"], ref.state_dict()["state"]
    return mine.keys() == theirs.keys() and all(
        torch.equal(mine[i][key], theirs[i][key])
        for i in mine for key in ("exp_avg", "exp_avg_sq", "step"))


def _only_direct_steps(opt: LeanAdam) -> None:
    def not_torch(closure):
        raise AssertionError("a plain step went through torch's Adam.step")

    opt._torch_step = not_torch


def _pair(lr: float = 1e-2):
    lean, stock = _model(), _model()
    return (lean, LeanAdam(lean.parameters(), lr=lr, betas=(0.5, 0.999), fused=True),
            stock, torch.optim.Adam(stock.parameters(), lr=lr, betas=(0.5, 0.999), fused=True))


def test_adam_factory_gives_the_lean_fused_optimizer_on_cpu():
    opt = adam(_model().parameters(), 1e-3, (0.5, 0.999))
    assert isinstance(opt, LeanAdam) and opt.param_groups[0]["fused"]


def test_lean_adam_matches_torch_fused_adam_bit_for_bit():
    lean, opt, stock, ref = _pair()
    _train(lean, opt, 20)
    _train(stock, ref, 20)
    _only_direct_steps(opt)
    _train(lean, opt, 1, seed=9)
    _train(stock, ref, 1, seed=9)
    assert _same(lean, stock) and _same_state(opt, ref)


def test_lean_adam_follows_a_changed_learning_rate():
    lean, opt, stock, ref = _pair()
    _train(lean, opt, 3)
    _train(stock, ref, 3)
    for o in (opt, ref):
        o.param_groups[0]["lr"] /= 2  # what --on-nan rollback does
    _train(lean, opt, 5, seed=2)
    _train(stock, ref, 5, seed=2)
    assert _same(lean, stock)


def test_lean_adam_state_dict_round_trips_with_torch_adam():
    """A checkpoint written by either optimiser resumes in the other, exactly."""
    lean, opt, stock, ref = _pair()
    _train(lean, opt, 4)
    _train(stock, ref, 4)
    fresh = _model(seed=5)
    fresh.load_state_dict(stock.state_dict())
    resumed = LeanAdam(fresh.parameters(), lr=1e-2, betas=(0.5, 0.999), fused=True)
    _train(fresh, resumed, 1, seed=3)  # gathers lists over its own fresh state...
    fresh.load_state_dict(stock.state_dict())
    resumed.load_state_dict(copy.deepcopy(ref.state_dict()))  # ...which loading replaces
    _train(fresh, resumed, 6, seed=4)
    _train(stock, ref, 6, seed=4)
    assert _same(fresh, stock)
    assert resumed.state_dict()["state"].keys() == ref.state_dict()["state"].keys()


def test_a_copy_of_lean_adam_updates_its_own_model():
    lean, opt, stock, ref = _pair()
    _train(lean, opt, 2)
    _train(stock, ref, 2)
    twin = copy.deepcopy((lean, opt))  # as `ganzoo bench` copies a step to count FLOPs
    _train(*twin, 3, seed=5)
    _train(stock, ref, 3, seed=5)
    assert _same(twin[0], stock) and _same_state(twin[1], ref)
    assert not _same(lean, stock) and opt.state_dict()["state"][0]["step"] == 2


def test_lean_adam_leaves_a_parameter_without_gradient_alone():
    lean, opt, stock, ref = _pair()
    _train(lean, opt, 2)
    _train(stock, ref, 2)
    for model, o in ((lean, opt), (stock, ref)):
        model[2].requires_grad_(False)
        _train(model, o, 3, seed=7)
    assert _same(lean, stock) and _same_state(opt, ref)  # its step count stood still too
    assert [int(opt.state[p]["step"]) for p in lean.parameters()] == [5, 5, 2, 2]


def test_lean_adam_runs_step_hooks_once_per_step():
    lean, opt, _, _ = _pair()  # torch's Adam is created too, so its step is hook-wrapped
    calls = []
    opt.register_step_post_hook(lambda *_: calls.append(1))
    _train(lean, opt, 3)  # the first step through torch's Adam, then the direct path
    assert calls == [1, 1, 1]


def test_lean_adam_zero_grad_drops_or_zeroes_the_gradients():
    lean, opt, _, _ = _pair()
    _train(lean, opt, 2)
    lean(torch.ones(1, 12)).sum().backward()
    opt.zero_grad()
    assert all(p.grad is None for p in lean.parameters())
    lean(torch.ones(1, 12)).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in lean.parameters())


def test_lean_adam_runs_step_hooks_and_shows_in_the_profiler():
    lean, opt, stock, ref = _pair()
    _train(lean, opt, 2)
    _train(stock, ref, 2)
    seen = []
    mine = opt.register_step_post_hook(lambda o, args, kwargs: seen.append("mine"))
    every = register_optimizer_step_pre_hook(
        lambda o, args, kwargs: seen.append("global"))
    try:
        _train(lean, opt, 1, seed=4)
    finally:
        mine.remove()
        every.remove()
    assert seen == ["global", "mine"]
    with torch.profiler.profile() as prof:
        _train(lean, opt, 1, seed=5)
    assert any(e.name == "Optimizer.step#LeanAdam.step" for e in prof.events())
    _only_direct_steps(opt)  # unwatched again
    _train(lean, opt, 2, seed=6)
    for steps, seed in ((1, 4), (1, 5), (2, 6)):
        _train(stock, ref, steps, seed=seed)
    assert _same(lean, stock) and _same_state(opt, ref)


def test_a_torch_without_leanadams_internals_gets_torchs_fused_adam_and_one_line(
        monkeypatch, capsys):
    from ganzoo.engine import optim

    assert optim.missing_internals() == []  # this torch has every one
    monkeypatch.delattr(torch, "_fused_adam_")
    monkeypatch.setattr(optim, "_told", False)
    model = _model()
    for _ in range(2):
        opt = adam(model.parameters(), 1e-2, (0.5, 0.999))
        assert type(opt) is torch.optim.Adam and opt.param_groups[0]["fused"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lacks torch._fused_adam_" in err[0], err
