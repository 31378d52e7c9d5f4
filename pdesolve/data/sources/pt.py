"""``.pt`` files holding a dict of tensors (`torch.save`), loaded with ``weights_only=True`` -- never
unpickling code -- and memory-mapped where the file allows (``torch.load(mmap=True)``), so
tensors are paged in as they are read. Anything but a ``{name: tensor}`` mapping is refused.
The axis order comes from the case's ``layout`` (`pdesolve.data.sources.arrays`)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from pdesolve.data.sources.arrays import arrays_to_layout
from pdesolve.data.sources.base import LayoutOptions, OpenedData, Reader
from pdesolve.data.sources.lazy import MemoryArray
from pdesolve.errors import UserError


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` mapping a ``.pt`` file holds.

    Raises:
        UserError: the file is not loadable with ``weights_only=True`` or holds anything else.
    """
    source = str(path)
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files in the legacy (non-zip) format cannot be memory-mapped
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot load with weights_only=True (expected a dict of tensors): {first}",
                        source=source) from None
    if not isinstance(obj, dict):
        raise UserError(f"holds a {type(obj).__name__}; expected a dict of tensors", source=source)
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise UserError(f"entry {key!r} is a {type(value).__name__}; expected only tensors", source=source)
    return {str(k): v for k, v in obj.items()}


class PtReader(Reader, name="pt"):
    """torch ``.pt`` files with a dict of tensors."""

    suffixes = (".pt", ".pth")
    priority = 40
    description = "torch .pt dicts of tensors, weights_only (axis order from problem.layout)"

    def open(self, path: Path, options: LayoutOptions) -> OpenedData:
        tensors = load_tensors(path)
        arrays = {k: MemoryArray(v.detach().numpy()) for k, v in tensors.items()}
        return arrays_to_layout(arrays, options, path=str(path), fmt=self.name)
