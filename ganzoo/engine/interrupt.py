"""Ctrl-C and SIGTERM as a request: finish the current step, save, then stop."""

from __future__ import annotations

import signal
import threading
import time

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """While active, the first SIGINT/SIGTERM only sets :attr:`signal`; the training loop
    checks it after every step. A second one raises ``KeyboardInterrupt`` at once (the
    atomic writes leave every saved file intact). Outside the main thread it does nothing,
    as Python delivers signals to the main thread only."""

    def __init__(self, repeat_grace_s: float = 0.0) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}
        # Under torchrun a Ctrl-C reaches each worker twice (from the terminal, then
        # forwarded by the launcher): a repeat this soon after the first is the same request.
        self.repeat_grace_s = repeat_grace_s
        self._first_at = 0.0

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal else ""

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or 0)  # the shell's convention: 130 for SIGINT, 143 for TERM

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:
            if time.monotonic() - self._first_at < self.repeat_grace_s:
                return
            self._restore()
            raise KeyboardInterrupt
        self.signal, self._first_at = signum, time.monotonic()

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        self._restore()
