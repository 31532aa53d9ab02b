"""The errors ganzoo raises on purpose: bad input, missing data, a bad checkpoint.

Each is a plain exception with an ``exit_code``; the library never prints them. The command
line shows the message as one ``Error: ...`` line and exits with that code.
"""

from __future__ import annotations


class GanzooError(Exception):
    """An expected failure with a message that says what went wrong and the way out."""

    exit_code = 2

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(GanzooError):
    """An unknown name or a value of the wrong type or range."""


class RunExists(ConfigError):
    """A new run asked for a directory that already holds one."""

    def __init__(self, root) -> None:
        super().__init__(f"{root} already holds a run; resume it or choose another run "
                         "directory")
        self.root = root


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


class CallbackError(TrainingError):
    """A callback raised; the checkpoint before it is intact and the run can resume."""


class Interrupted(GanzooError):
    """Training stopped by SIGINT or SIGTERM after saving a checkpoint (exit 130 or 143)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
