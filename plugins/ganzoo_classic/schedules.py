"""Learning-rate schedules by epoch (and a warm-up by step): the factor that scales a
network's preset rate."""

from __future__ import annotations

import math

from ganzoo import Schedule


def _check_fraction(name: str, value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return float(value)


class LinearDecay(Schedule):
    """Constant for the first ``start`` epochs, then linear towards ``end`` x the rate,
    reached where the run ends (pix2pix and CycleGAN decay to 0 over the second half)."""

    def __init__(self, start: int = 0, end: float = 0.0) -> None:
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.start, self.end = int(start), _check_fraction("end", end)

    def factor(self, epoch: int, epochs: int) -> float:
        if epoch <= self.start or epochs <= self.start:
            return 1.0
        return 1.0 - (1.0 - self.end) * min(1.0, (epoch - self.start) / (epochs - self.start))


class CosineDecay(Schedule):
    """Half a cosine from 1 at the first epoch to ``end`` at the last."""

    def __init__(self, end: float = 0.0) -> None:
        self.end = _check_fraction("end", end)

    def factor(self, epoch: int, epochs: int) -> float:
        progress = epoch / (epochs - 1) if epochs > 1 else 0.0
        return self.end + (1.0 - self.end) * (1 + math.cos(math.pi * progress)) / 2


class StepDecay(Schedule):
    """``gamma`` times the rate every ``every`` epochs."""

    def __init__(self, every: int = 10, gamma: float = 0.5) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every, self.gamma = int(every), _check_fraction("gamma", gamma)

    def factor(self, epoch: int, epochs: int) -> float:
        return self.gamma ** (epoch // self.every)


class Warmup(Schedule):
    """By step: linear from ``start`` x the rate at the first step to the full rate after
    ``steps`` steps, then constant (a warm-up over the first few hundred steps)."""

    unit = "step"

    def __init__(self, steps: int = 500, start: float = 0.0) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps, self.start = int(steps), _check_fraction("start", start)

    def factor(self, step: int, steps: int) -> float:
        return self.start + (1.0 - self.start) * min(1.0, step / self.steps)
