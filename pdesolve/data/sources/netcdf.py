"""netCDF (3 and 4, HDF5-based netCDF) and anything else the netCDF4 library opens through xarray,
pdesolve's own files included (their coordinates' ``layout`` attributes rebuild the grid exactly).

Values are decoded by xarray (``scale_factor``/``add_offset``, fill values to NaN, CF times);
each data variable is read on demand through `XarrayFileArray`, reopened in each process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from pdesolve.data.sources.base import LayoutOptions, OpenedData, Reader
from pdesolve.data.sources.hdf5 import HDF5_MAGIC, file_header, probe_hdf5
from pdesolve.data.sources.layout import to_layout
from pdesolve.data.sources.lazy import XarrayFileArray, lazy_variable, open_with_xarray
from pdesolve.errors import UserError


def raw_with_xarray(path: Path, engine: str) -> xr.Dataset:
    """The file as xarray decodes it, every data variable lazy (`XarrayFileArray`), coordinates
    and small bounds variables in memory."""
    try:
        opened = open_with_xarray(str(path), engine)
    except Exception as err:  # noqa: BLE001 (any reader failure is the file's problem)
        raise UserError(f"cannot open as {engine} ({type(err).__name__}: {err})", source=str(path)) from None
    with opened:
        data_vars = {}
        bounds = {c.attrs["bounds"] for c in opened.coords.values() if "bounds" in c.attrs}
        for name, da in opened.data_vars.items():
            if name in bounds or da.ndim == 0:
                data_vars[name] = xr.Variable(da.dims, np.asarray(da.values), da.attrs)
                continue
            array = XarrayFileArray(str(path), str(name), engine, da.shape, da.dtype)
            data_vars[name] = lazy_variable(da.dims, array, da.attrs)
        coords = {k: xr.Variable(c.dims, np.asarray(c.values), c.attrs) for k, c in opened.coords.items()}
        return xr.Dataset(data_vars, coords=coords, attrs=dict(opened.attrs))


class NetCDFReader(Reader, name="netcdf"):
    """netCDF and HDF5-netCDF files."""

    suffixes = (".nc", ".nc4", ".cdf", ".netcdf")
    priority = 30
    description = "netCDF-3/4 (CF), HDF5-netCDF and pdesolve's own files, through xarray"

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.is_dir():
            return False
        if path.suffix.lower() in cls.suffixes:
            return True
        head = file_header(path)
        if head[:4] in (b"CDF\x01", b"CDF\x02", b"CDF\x05"):
            return True
        return head == HDF5_MAGIC and probe_hdf5(path, _written_by_netcdf4)

    def open(self, path: Path, options: LayoutOptions) -> OpenedData:
        return to_layout(raw_with_xarray(path, "netcdf4"), options, path=str(path), fmt=self.name)


def _written_by_netcdf4(f) -> bool:
    """An HDF5 file that the netCDF-4 library wrote (it marks the root or uses dimension scales)."""
    import h5py

    if "_NCProperties" in f.attrs:
        return True
    return any(isinstance(obj, h5py.Dataset) and obj.attrs.get("CLASS") == b"DIMENSION_SCALE" for obj in f.values())
