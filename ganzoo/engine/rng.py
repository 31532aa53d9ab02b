"""Where a run's random draws come from: torch's global RNG for a single run, or one stream
per member for a population (so each member draws what its solo run would). The loop asks
either for a snapshot at an epoch's start, to draw from, and to redraw from a snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from .checkpoint import rng_states, set_rng_states

T = TypeVar("T")
States = dict[str, torch.Tensor]


class GlobalRNG:
    """torch's global RNG, the source of a single run's batch orders and noise."""

    def snapshot(self) -> States:
        return rng_states()

    def draw(self, fn: Callable[[], T]) -> T:
        return fn()

    def redraw(self, snapshot: States, fn: Callable[[], T]) -> T:
        """``fn`` drawn from ``snapshot``; the RNG is left as it was."""
        current = rng_states()
        set_rng_states(snapshot)
        try:
            return fn()
        finally:
            set_rng_states(current)

    @staticmethod
    def flatten(snapshot: States) -> States:
        return snapshot

    def unflatten(self, saved: States) -> States:
        return saved


class MemberRNG:
    """Each member's own stream of torch's global RNG, switched in around its draws."""

    def __init__(self, states: list[States]) -> None:
        self.states = states

    def each(self, fn: Callable[[int], T]) -> list[T]:
        """``fn(i)`` for every member i, each drawing from its own stream; the global RNG
        is left as it was (saved and restored once, not per member)."""
        outside = rng_states()
        try:
            results = []
            for i, state in enumerate(self.states):
                set_rng_states(state)
                results.append(fn(i))
                self.states[i] = rng_states()
            return results
        finally:
            set_rng_states(outside)

    def snapshot(self) -> list[States]:
        return [dict(s) for s in self.states]

    def draw(self, fn: Callable[[], T]) -> list[T]:
        """``fn()`` once per member, from its stream."""
        return self.each(lambda i: fn())

    def redraw(self, snapshot: list[States], fn: Callable[[], T]) -> list[T]:
        """``fn()`` per member from ``snapshot``; the streams are left as they were."""
        current, self.states = self.states, [dict(s) for s in snapshot]
        try:
            return self.draw(fn)
        finally:
            self.states = current

    @staticmethod
    def flatten(snapshot: list[States]) -> States:
        return {f"member{m}.{k}": v for m, s in enumerate(snapshot) for k, v in s.items()}

    def unflatten(self, saved: States) -> list[States]:
        return [{k[len(f"member{m}."):]: v for k, v in saved.items()
                 if k.startswith(f"member{m}.")} for m in range(len(self.states))]
