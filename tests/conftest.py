"""Shared test settings: quiet progress bars, one torch thread (small FFTs are slower with more on a busy box)."""

import os

os.environ.setdefault("PDESOLVE_PROGRESS", "0")

import torch  # noqa: E402

torch.set_num_threads(1)
