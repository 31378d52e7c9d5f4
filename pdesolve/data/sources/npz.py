"""``.npz`` archives of named arrays (`numpy.savez`); the axis order comes from the case's
``layout`` (`pdesolve.data.sources.arrays`). Object arrays are refused (no unpickling). A member
is read whole on first use (npz members cannot be memory-mapped): for files larger than memory,
``pdesolve convert`` them to netCDF first."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from pdesolve.data.sources.arrays import arrays_to_layout
from pdesolve.data.sources.base import LayoutOptions, OpenedData, Reader
from pdesolve.data.sources.lazy import NpzArray
from pdesolve.errors import UserError

HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class NpzReader(Reader, name="npz"):
    """numpy ``.npz`` archives."""

    suffixes = (".npz",)
    priority = 40
    description = "numpy .npz archives (axis order from problem.layout)"

    def open(self, path: Path, options: LayoutOptions) -> OpenedData:
        source = str(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {}
                for name in f.files:
                    with f.zip.open(f"{name}.npy") as member:
                        header = HEADERS.get(np.lib.format.read_magic(member), np.lib.format.read_array_header_2_0)
                        shape, _, dtype = header(member)
                    if dtype.hasobject:
                        raise UserError(f"array '{name}' holds Python objects; expected numbers", source=source)
                    arrays[name] = NpzArray(source, name, shape, dtype)
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise UserError(f"not a readable .npz file ({err})", source=source) from None
        return arrays_to_layout(arrays, options, path=source, fmt=self.name)
