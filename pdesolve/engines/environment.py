"""What a result was produced with: versions, hardware, threads, seed, git revision, command line.

One function for run directories (``environment.json``) and benchmark scripts alike.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from pdesolve.engines.device import describe
from pdesolve.version import __version__


def git_revision() -> str | None:
    """The checked-out commit of the pdesolve source tree, if it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device | str = "cpu", seed: int | None = None) -> dict:
    """Versions, platform, hardware behind ``device``, torch threads, load average, seed, git
    revision, command line and creation time (UTC), JSON-able."""
    import numpy
    import scipy
    import xarray

    device = torch.device(device)
    return {
        "pdesolve": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "xarray": xarray.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "hardware": describe(device),
        "cuda": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "seed": seed,
        "git_revision": git_revision(),
        "command": " ".join(sys.argv),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
