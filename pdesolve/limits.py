"""Resource limits: memory estimates checked against the machine before any work starts.

Problems and backends describe what they will hold as `MemoryEstimate`s (a product of sizes, each
size labelled with the case field that sets it, times bytes per element) through one small
method each (`Problem.memory_estimates`, `Solver.memory_estimates`); `check_memory` compares them
with the memory available on the device and refuses, naming the field and the estimate, when one
cannot fit. The estimates are lower bounds (what must be held at once, not every temporary), so
a refusal is certain to be right; a case that passes can still be slow.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from pdesolve.errors import UserError


@dataclass(frozen=True)
class Size:
    """One factor of an estimate: ``value`` things (``label``), set by the case field ``field``."""

    field: str
    label: str
    value: int


@dataclass(frozen=True)
class MemoryEstimate:
    """``what`` holds ``prod(sizes) * bytes_per_element`` bytes at once.

    Attributes:
        what: what is held (``"the reference data"``), for the message.
        sizes: the factors.
        bytes_per_element: bytes of one element (8 for float64; 16 per parameter under Adam:
            weights, gradients and two moments in float32).
        device: ``"cpu"`` for host memory, or ``"training"`` for the device the model trains on.
    """

    what: str
    sizes: Sequence[Size]
    bytes_per_element: int
    device: str = "cpu"

    @property
    def bytes(self) -> int:
        return math.prod(int(s.value) for s in self.sizes) * self.bytes_per_element

    @property
    def culprit(self) -> Size:
        """The largest factor (the one to lower first)."""
        return max(self.sizes, key=lambda s: s.value)

    def describe(self) -> str:
        return " x ".join(f"{s.value:,} {s.label}" for s in self.sizes) + f" x {self.bytes_per_element} bytes"


def human_bytes(n: float) -> str:
    """``1.5e9 -> '1.5 GB'`` (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def available_memory(device: torch.device | str = "cpu") -> int:
    """Bytes that can be allocated now: free GPU memory on a CUDA device, else the host's
    ``MemAvailable`` (``/proc/meminfo``; physical memory where that file is missing)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_memory(estimates: Iterable[MemoryEstimate], *, training_device: torch.device | str = "cpu",
                 source: str | None = None) -> None:
    """Raise a `UserError` naming the field and the estimate when one of ``estimates`` exceeds the
    memory available on its device (``source``: the case file)."""
    for e in estimates:
        device = torch.device(training_device if e.device == "training" else "cpu")
        available = available_memory(device)
        if e.bytes > available:
            where = "on the GPU" if device.type == "cuda" else "on this machine"
            raise UserError(
                f"{e.what} would need about {human_bytes(e.bytes)} ({e.describe()}), more than the "
                f"{human_bytes(available)} of memory available {where}; lower {e.culprit.field}",
                source=source, field=e.culprit.field)
