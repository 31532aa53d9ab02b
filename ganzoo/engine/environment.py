"""What a run was trained with: versions, device, and ganzoo's git commit when there is one.

Written to the run directory's ``environment.json`` when training starts, so that a report
written later says what trained the run, not what reads it.
"""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime
from pathlib import Path

import torch

from ..core.version import __version__


def describe(device: torch.device, world_size: int = 1) -> dict:
    """This process's environment, for ``device``."""
    if device.type == "cuda":
        where = f"{device} ({torch.cuda.get_device_name(device)})"
    else:
        where = f"cpu ({torch.get_num_threads()} threads)"
    return {"ganzoo": __version__, "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "device": where, "processes": world_size, "git_commit": git_commit(),
            "started": datetime.now().isoformat(timespec="seconds")}


def git_commit() -> str | None:
    """The commit of the checkout ganzoo runs from (``+dirty`` with uncommitted changes);
    None for an installed copy outside git, or without git."""
    source = Path(__file__).resolve().parent
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()

        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None
