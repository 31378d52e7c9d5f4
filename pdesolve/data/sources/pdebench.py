"""PDEBench's HDF5 layouts (the files of pdebench/PDEBench, read as its own loaders read them).

* one array ``tensor`` ``(N, T, X[, Y[, Z]])`` with ``x-coordinate`` [``y-``, ``z-coordinate``] and
  ``t-coordinate`` (1-D advection, Burgers, reaction-diffusion);
* Darcy flow: ``nu`` ``(N, X, Y)`` and ``tensor`` ``(N, 1, X, Y)``, a map from ``nu`` to ``tensor``
  (the length-1 time axis is dropped);
* compressible flow: ``density``, ``pressure``, ``Vx`` [``Vy``, ``Vz``] ``(N, T, X[, Y[, Z]])``;
* one group per sample (``0000/data`` ``(T, X[, Y], C)`` with ``0000/grid/x`` [``y``] and ``grid/t``):
  the channels become ``data`` (one channel) or ``data_0``, ``data_1``, ...

A ``t-coordinate`` one longer than the time axis (some files store the end time too) is cut to
the stored steps. PDEBench files do not record boundary conditions: give ``periodic`` in the case
(its advection, Burgers and reaction-diffusion problems are periodic).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from pdesolve.data.sources.base import LayoutOptions, OpenedData, Reader
from pdesolve.data.sources.hdf5 import HDF5_SUFFIXES, probe_hdf5
from pdesolve.data.sources.layout import to_layout
from pdesolve.data.sources.lazy import ComponentArray, HDF5Array, StackArray, lazy_variable
from pdesolve.errors import UserError

AXES = ("x", "y", "z")
NAMED = ("tensor", "nu", "density", "pressure", "Vx", "Vy", "Vz")


def _is_sample_group(f, key: str) -> bool:
    import h5py

    obj = f[key]
    return isinstance(obj, h5py.Group) and "data" in obj and isinstance(obj["data"], h5py.Dataset)


def _has_pdebench_keys(f) -> bool:
    return any(k in f for k in NAMED) or (len(f) > 0 and _is_sample_group(f, next(iter(f))))


class PDEBenchReader(Reader, name="pdebench"):
    """PDEBench's HDF5 files."""

    suffixes = HDF5_SUFFIXES
    priority = 15
    description = "PDEBench's HDF5 layouts (tensor + coordinates, Darcy nu/tensor, CFD variables, per-seed groups)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return probe_hdf5(path, _has_pdebench_keys)

    def open(self, path: Path, options: LayoutOptions) -> OpenedData:
        import h5py

        source = str(path)
        with h5py.File(path, "r") as f:
            keys = list(f.keys())
            if any(k in f for k in NAMED):
                raw, notes = self._named(f, source)
            elif keys and _is_sample_group(f, keys[0]):
                raw, notes = self._groups(f, [k for k in keys if _is_sample_group(f, k)], source)
            else:
                raise UserError(f"not a PDEBench layout (top-level keys: {', '.join(keys) or 'none'})", source=source)
            raw.attrs.update({k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()
                              if np.ndim(v) == 0})
        roles = {"sample": "sample", "time": "time", **{a: a for a in AXES}}
        return to_layout(raw, options, path=source, fmt=self.name, roles=roles, notes=notes)

    @staticmethod
    def _time(values: np.ndarray, n_steps: int, notes: list[str]) -> np.ndarray:
        values = np.asarray(values).reshape(-1)
        if values.size == n_steps + 1:
            notes.append(f"t-coordinate has {values.size} entries for {n_steps} steps; the first {n_steps} are used")
            return values[:n_steps]
        return values

    def _named(self, f, source: str) -> tuple[xr.Dataset, list[str]]:
        """``tensor`` / ``nu`` / the CFD variables, all ``(N, [T], *spatial)``."""
        notes: list[str] = []
        coords = {}
        for a in AXES:
            if f"{a}-coordinate" in f:
                coords[a] = xr.Variable((a,), np.asarray(f[f"{a}-coordinate"][...]).reshape(-1), {"units": "1"})
        ndim = len(coords)
        if not ndim:
            raise UserError("no x-coordinate (expected PDEBench's coordinate arrays)", source=source)
        data_vars = {}
        n_steps = None
        for name in (k for k in f.keys() if k in NAMED):
            ds = f[name]
            spatial = ds.ndim - 1 - (ds.ndim - 1 > ndim)
            if ds.ndim == 1 + ndim:  # (N, *spatial): a coefficient (Darcy's nu)
                dims = ("sample", *AXES[:ndim])
                array = HDF5Array(source, name, ds.shape, ds.dtype)
            elif ds.ndim == 2 + ndim:
                array = HDF5Array(source, name, ds.shape, ds.dtype)
                if ds.shape[1] == 1:  # one step (Darcy's tensor): a field, not a trajectory
                    dims = ("sample", *AXES[:ndim])
                    array = _DropAxis1(array)
                    notes.append(f"{name}: its time axis of length 1 is dropped")
                else:
                    dims = ("sample", "time", *AXES[:ndim])
                    n_steps = ds.shape[1]
            else:
                raise UserError(f"'{name}' has shape {ds.shape}; expected (N, [T], {', '.join(AXES[:spatial])})",
                                source=source)
            data_vars[name] = lazy_variable(dims, array, {"units": "1", "long_name": name})
        if n_steps is not None and "t-coordinate" in f:
            coords["time"] = xr.Variable(("time",), self._time(f["t-coordinate"][...], n_steps, notes), {"units": "1"})
        return xr.Dataset(data_vars, coords=coords), notes

    def _groups(self, f, groups: list[str], source: str) -> tuple[xr.Dataset, list[str]]:
        """One group per sample: ``<seed>/data`` ``(T, *spatial, C)``, ``<seed>/grid/{x,y,z,t}``."""
        notes: list[str] = [f"{len(groups)} samples, one group each ({groups[0]} ...)"]
        first = f[groups[0]]
        shape = first["data"].shape
        grid = first.get("grid", {})
        ndim = sum(a in grid for a in AXES) or len(shape) - 2
        if len(shape) != ndim + 2:
            raise UserError(f"{groups[0]}/data has shape {shape}; expected (T, {', '.join(AXES[:ndim])}, C)",
                            source=source)
        parts = [HDF5Array(source, f"{g}/data", f[g]["data"].shape, f[g]["data"].dtype) for g in groups]
        stacked = StackArray(parts)
        channels = shape[-1]
        dims = ("sample", "time", *AXES[:ndim])
        data_vars = {}
        for c in range(channels):
            name = "data" if channels == 1 else f"data_{c}"
            data_vars[name] = lazy_variable(dims, ComponentArray(stacked, (c,)), {"units": "1", "long_name": name})
        coords = {a: xr.Variable((a,), np.asarray(grid[a][...]).reshape(-1), {"units": "1"}) for a in AXES if a in grid}
        if "t" in grid:
            coords["time"] = xr.Variable(("time",), self._time(grid["t"][...], shape[0], notes), {"units": "1"})
        return xr.Dataset(data_vars, coords=coords), notes


class _DropAxis1(HDF5Array):
    """An ``(N, 1, *s)`` HDF5 array read as ``(N, *s)``."""

    def __init__(self, base: HDF5Array):
        super().__init__(base.path, base.name, (base.shape[0], *base.shape[2:]), base.dtype)

    def _read(self, key):
        return super()._read((key[0], 0, *key[1:]))
