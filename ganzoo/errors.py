"""User-facing errors: the CLI prints their message on one line and exits non-zero."""

from __future__ import annotations

import click


class GanzooError(click.ClickException):
    """An expected failure (bad input, missing data, bad checkpoint) with a clear message."""

    exit_code = 2


class ConfigError(GanzooError):
    """An unknown name or a value of the wrong type or range."""


class DataError(GanzooError):
    """Data that is missing, unreadable or corrupt."""


class CheckpointError(GanzooError):
    """A checkpoint that cannot be read or does not fit the run."""


class PluginError(GanzooError):
    """A plugin that failed to load or registered something invalid."""


class TrainingError(GanzooError):
    """Training that cannot go on (e.g. a loss became NaN or infinite)."""


class Diverged(TrainingError):
    """A loss or a weight became NaN or infinite."""


class Interrupted(GanzooError):
    """Training stopped by SIGINT or SIGTERM after saving a checkpoint (exit 130 or 143)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
