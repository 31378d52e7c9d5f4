"""netCDF reading and atomic writing.

Files are written to a temporary name beside the target and renamed into place, so a crash never
leaves a half-written file under the final name.
"""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from pdesolve.errors import UserError
from pdesolve.version import __version__


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()
# ".<target name>.<pid of the writer>-<random>.tmp", beside the target
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, target: str | None = None) -> list[Path]:
    """Delete the temporary files that `atomic_replace` left in ``folder`` (for the file named
    ``target``, or for any file) when its process was killed mid-write: those whose writing process
    is gone. Temporaries of live writers (a concurrent generation) are kept. Returns what was removed."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TEMPORARY.match(entry.name)
        if m is None or (target is not None and m["name"] != target) or _process_alive(int(m["pid"])):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except FileNotFoundError:
            pass
    return removed


def atomic_replace(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path`` (same directory, atomic).

    The temporary name carries the writer's process id, so a temporary left by a killed writer is
    removed by the next write of the same target (`remove_stale_temporaries`). The file gets the
    mode of the file it replaces, or the user's umask for a new file (not the temporary's 0600).

    Raises:
        UserError: ``path`` is a folder, or its folder cannot be created or written (naming ``path``).
    """
    path = Path(path)
    if path.is_dir():
        raise UserError("is a folder (expected the name of a file to write)", source=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent, path.name)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise UserError(f"cannot write here ({err.strerror or err})", source=str(path)) from None
    os.close(fd)
    try:
        mode = (path.stat().st_mode & 0o7777) if path.is_file() else (0o666 & ~UMASK)
        write(Path(tmp))
        os.chmod(tmp, mode)
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
    except (OSError, ValueError, RuntimeError) as err:
        raise UserError(f"not a readable netCDF file ({err})", source=str(path)) from None
    with ds:
        try:
            return ds.load()
        except (OSError, ValueError, RuntimeError) as err:  # a truncated file: the header reads, the data not
            raise UserError(f"not a readable netCDF file ({err})", source=str(path)) from None


def to_float32(ds: xr.Dataset) -> xr.Dataset:
    """Cast float64 data variables to float32 (coordinates keep their precision)."""
    return ds.assign(
        {k: v.astype(np.float32) for k, v in ds.data_vars.items() if v.dtype == np.float64}
    )
