"""Shared test settings: quiet progress bars, few threads, deterministic torch."""

import os

os.environ.setdefault("PDESOLVE_PROGRESS", "0")

import torch  # noqa: E402

torch.set_num_threads(2)
