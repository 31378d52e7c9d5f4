"""netCDF reading and atomic writing.

Files are written to a temporary name beside the target and renamed into place, so a crash never
leaves a half-written file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from pdesolve.errors import UserError
from pdesolve.version import __version__


def atomic_replace(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path`` (same directory, atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _encoding(ds: xr.Dataset) -> dict:
    """Compression for large float fields; no ``_FillValue`` on coordinates (CF 2.5.1)."""
    enc = {}
    for name, var in ds.variables.items():
        if var.dtype.kind == "f" and var.ndim >= 2:
            enc[name] = {"zlib": True, "complevel": 1}
        if name in ds.coords:
            enc.setdefault(name, {})["_FillValue"] = None
    return enc


def with_cf_conventions(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with what every file pdesolve writes carries (added where missing, so applying it
    twice changes nothing): an integer ``sample`` coordinate when there is a sample dimension, and a
    ``history`` attribute (CF 2.6.2)."""
    if "sample" in ds.dims and "sample" not in ds.coords:
        ds = ds.assign_coords(sample=xr.Variable(("sample",), np.arange(ds.sizes["sample"], dtype=np.int32),
                                                 {"long_name": "sample index", "units": "1"}))
    if not ds.attrs.get("history"):
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        ds = ds.assign_attrs(history=f"{stamp} written by pdesolve {__version__}")
    return ds


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` (netCDF4 format, `with_cf_conventions`) atomically and return the path."""
    ds = with_cf_conventions(ds)
    return atomic_replace(
        Path(path), lambda tmp: ds.to_netcdf(tmp, engine="netcdf4", encoding=_encoding(ds))
    )


def read_netcdf(path: str | os.PathLike, *, lazy: bool = False) -> xr.Dataset:
    """Open a netCDF file written by pdesolve (or any CF file).

    Args:
        path: the file.
        lazy: keep the data on disk, every variable read on demand (and reopened in each process,
            so DataLoader workers read it safely; `pdesolve.data.sources.lazy`).

    Raises:
        UserError: the file is missing or is not readable netCDF.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("file not found (expected a netCDF file)", source=str(path))
    if lazy:
        from pdesolve.data.sources.netcdf import raw_with_xarray

        return raw_with_xarray(path, "netcdf4")
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
    except (OSError, ValueError) as err:
        raise UserError(f"not a readable netCDF file ({err})", source=str(path)) from None
    with ds:
        return ds.load()


def to_float32(ds: xr.Dataset) -> xr.Dataset:
    """Cast float64 data variables to float32 (coordinates keep their precision)."""
    return ds.assign(
        {k: v.astype(np.float32) for k, v in ds.data_vars.items() if v.dtype == np.float64}
    )
