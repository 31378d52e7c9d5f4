"""From a file's own dims and coordinates to pdesolve's layout (docs/data-format.md).

`to_layout` takes a dataset as a reader found it -- lazy variables under the file's dim names,
coordinates as the file has them -- and returns it with

* each dim given a role (``sample``, ``time``, ``x``, ``y``, ``z``): from the case's ``dims``, the
  reader's knowledge of its format, a coordinate's CF ``axis`` attribute, or common names
  (``batch``, ``member``, ``t``, ``lon`` ...);
* variables transposed to ``(sample, [time], x, [y, [z]])`` (a file holding one sample gets a
  ``sample`` axis of length 1); variables whose dims cannot all be told, or that live on another
  grid, stay out of the dataset and are listed in `SourceInfo.variables` with the reason;
* a `Grid` built from the coordinates (uniform or not; periodic axes from the case, the reader
  or pdesolve's own ``layout`` attribute; cell centres from CF ``bounds``) or, without
  coordinates, from the case's ``domain`` (else the unit interval, noted);
* a time coordinate from the file (datetimes become seconds since the first), else ``dt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from pdesolve.data.grid import AXIS_NAMES, Axis, Grid
from pdesolve.data.sources.base import LayoutOptions, OpenedData, SourceInfo, VariableInfo, file_splits
from pdesolve.data.sources.lazy import LeadingAxisArray, VariableArray, lazy_variable
from pdesolve.data.tensors import grid_coords
from pdesolve.errors import UserError

ROLES = ("sample", "time", *AXIS_NAMES)
ALIASES = {
    "sample": ("sample", "samples", "batch", "n", "member", "ensemble", "realization", "realisation",
               "trajectory", "trajectories", "traj", "run", "runs", "case", "cases", "seed", "index"),
    "time": ("time", "t", "times", "step", "steps", "snapshot", "snapshots", "frame", "frames", "nt"),
    "x": ("x", "nx", "lon", "longitude", "xc", "x1", "i"),
    "y": ("y", "ny", "lat", "latitude", "yc", "x2", "j"),
    "z": ("z", "nz", "depth", "height", "level", "lev", "zc", "x3", "k"),
}
CF_AXIS = {"T": "time", "X": "x", "Y": "y", "Z": "z"}
SKIP_ATTRS = ("_FillValue", "missing_value", "scale_factor", "add_offset", "coordinates", "grid_mapping")


def dim_role(dim: str, ds: xr.Dataset, roles: Mapping[str, str]) -> str | None:
    """The role of file dim ``dim``: given (case or reader), CF ``axis``, or a common name."""
    if dim in roles:
        return roles[dim]
    if dim in ds.coords:
        attrs = ds.coords[dim].attrs
        if str(attrs.get("axis", "")).upper() in CF_AXIS:
            return CF_AXIS[str(attrs["axis"]).upper()]
        if attrs.get("standard_name") == "time":
            return "time"
    low = dim.lower()
    return next((role for role, names in ALIASES.items() if low in names), None)


def _classify(var: xr.Variable, name: str, ds: xr.Dataset, roles: Mapping[str, str]
              ) -> tuple[dict[str, str] | None, str]:
    """File dim -> role for a variable on a grid, else (None, why not)."""
    found = {d: dim_role(d, ds, roles) for d in var.dims}
    unknown = [d for d, r in found.items() if r is None]
    if unknown:
        return None, (f"dimension '{unknown[0]}' of variable '{name}' cannot be told from the layout "
                      "(expected sample, time, x, y, z); set problem.dims")
    if len(set(found.values())) < len(found):
        return None, f"two dims of '{name}' have the same role ({found}); set problem.dims"
    spatial = sorted(r for r in found.values() if r in AXIS_NAMES)
    if not spatial:
        return None, "no spatial axis (a scalar per sample or per step)"
    if spatial != list(AXIS_NAMES[:len(spatial)]):
        return None, f"spatial axes {spatial} do not start at x (expected x, then y, then z)"
    return found, ""


def _numeric_time(values: np.ndarray, units: str) -> tuple[np.ndarray, str]:
    if values.dtype.kind == "M":
        seconds = (values - values[0]) / np.timedelta64(1, "s")
        return seconds.astype(np.float64), "s"
    if values.dtype.kind == "m":
        return (values / np.timedelta64(1, "s")).astype(np.float64), "s"
    return values.astype(np.float64), units


def uniform_spacing(values: np.ndarray) -> bool:
    """Whether 1-D increasing ``values`` are equally spaced (to the precision they are stored in)."""
    if values.size < 3:
        return True
    d = np.diff(values.astype(np.float64))
    eps = np.finfo(values.dtype).eps if values.dtype.kind == "f" else 0.0
    tol = 1e-3 * abs(d.mean()) + 8 * eps * float(np.abs(values).max())
    return bool(np.abs(d - d.mean()).max() <= tol)


def build_axis(name: str, size: int, coord: xr.DataArray | None, ds: xr.Dataset, options: LayoutOptions,
               periodic: bool, source: str, notes: list[str]) -> Axis:
    """The axis ``name`` from its coordinate (or the case's domain, else [0, 1])."""
    units = options.units.get(name)
    if coord is not None and "layout" in coord.attrs and "domain_length" in coord.attrs:
        attrs = coord.attrs  # pdesolve's own file: the attributes rebuild the axis exactly
        points = tuple(np.asarray(coord.values, np.float64)) if int(attrs.get("uniform", 1)) == 0 else None
        return Axis(name, size, float(attrs["domain_length"]), float(attrs["domain_origin"]), str(attrs["layout"]),
                    units or str(attrs.get("units", "1")), points)
    if coord is None:
        lo, hi = options.domain.get(name, (0.0, 1.0))
        if name not in options.domain:
            notes.append(f"no coordinate for {name}: the unit interval assumed (set problem.domain)")
        length = float(hi) - float(lo)
        return Axis(name, size, length, float(lo), "periodic" if periodic else "nodes", units or "1")
    values = np.asarray(coord.values)
    if values.ndim != 1 or values.size != size or values.dtype.kind not in "fiu":
        raise UserError(f"coordinate of {name} has shape {values.shape} and dtype {values.dtype}; "
                        f"expected {size} numbers", source=source, field="problem.coords")
    values64 = values.astype(np.float64)
    if size > 1 and np.any(np.diff(values64) <= 0):
        raise UserError(f"coordinate of {name} is not increasing", source=source, field="problem.coords")
    units = units or str(coord.attrs.get("units", "1"))
    if size < 2:
        return Axis(name, size, 1.0, float(values64[0]) if size else 0.0, "periodic" if periodic else "nodes", units)
    if not uniform_spacing(values):
        if periodic:
            raise UserError(f"axis {name} is periodic but its points are not equally spaced", source=source,
                            field="problem.periodic")
        notes.append(f"axis {name} is not uniformly spaced (spectral backends refuse it)")
        return Axis(name, size, float(values64[-1] - values64[0]), float(values64[0]), "nodes", units,
                    tuple(values64))
    h = (values64[-1] - values64[0]) / (size - 1)
    bounds_name = coord.attrs.get("bounds")
    if periodic:
        return Axis(name, size, h * size, float(values64[0]), "periodic", units)
    if bounds_name and bounds_name in ds.variables:
        b = np.asarray(ds[bounds_name].values, np.float64)
        return Axis(name, size, float(b[-1, -1] - b[0, 0]), float(b[0, 0]), "cells", units)
    return Axis(name, size, float(values64[-1] - values64[0]), float(values64[0]), "nodes", units)


def to_layout(raw: xr.Dataset, options: LayoutOptions, *, path: str, fmt: str,
              roles: Mapping[str, str] | None = None, periodic: Sequence[str] = (),
              notes: Sequence[str] = (), notes_by_variable: Mapping[str, str] | None = None,
              extra_variables: Mapping[str, VariableInfo] | None = None, files: int = 1) -> OpenedData:
    """``raw`` (lazy variables under the file's dims) in pdesolve's layout; see module docstring.

    Args:
        roles: file dim -> role that the reader knows (the case's ``dims`` win over them).
        periodic: axes the file declares periodic (the case's ``periodic`` wins).
        notes_by_variable: what a variable was made from (shown by ``pdesolve inspect``).
        extra_variables: variables that are not fields on the grid (scalars, ...), for the info.
    """
    notes = list(notes)
    given = {**(roles or {}), **{file_dim: role for role, file_dim in options.dims.items()}}
    bad = [r for r in options.dims if r not in ROLES]
    if bad:
        raise UserError(f"unknown dim role(s) {bad} (expected: {', '.join(ROLES)})", source=path, field="problem.dims")
    skip = set(raw.coords) | {"split"}
    for c in raw.coords.values():
        if "bounds" in c.attrs:
            skip.add(c.attrs["bounds"])
    variables: dict[str, VariableInfo] = dict(extra_variables or {})
    placed: dict[str, tuple[xr.Variable, dict[str, str]]] = {}
    for name, da in raw.data_vars.items():
        if name in skip:
            continue
        var = da.variable
        dims_roles, why = _classify(var, name, raw, given)
        attrs = {k: v for k, v in var.attrs.items() if k not in SKIP_ATTRS}
        units = options.units.get(name, str(attrs.get("units", "1")))
        long_name = str(attrs.get("long_name", name))
        if dims_roles is None:
            variables[name] = VariableInfo(name, tuple(var.dims), tuple(var.shape), str(var.dtype), units,
                                           long_name, False, why)
            continue
        placed[name] = (var, dims_roles)
    # the grid: axis sizes shared by the variables with the most spatial axes
    sizes: dict[str, dict[str, int]] = {}
    for name, (var, dr) in placed.items():
        sizes[name] = {dr[d]: n for d, n in zip(var.dims, var.shape, strict=True) if dr[d] in AXIS_NAMES}
    chosen = next((v for v in options.grid_variables if v in sizes), None)
    if chosen is not None:
        grid_sizes = sizes[chosen]
    else:
        grid_sizes = max(sizes.values(), key=len, default={})
        counts = {}
        for s in sizes.values():
            if s.keys() == grid_sizes.keys():
                counts[tuple(s.items())] = counts.get(tuple(s.items()), 0) + 1
        if counts:
            grid_sizes = dict(max(counts, key=counts.get))
    grid_owner = f"'{chosen}'" if chosen else "the file's"
    file_dim_of: dict[str, str] = {}
    out_vars: dict[str, xr.Variable] = {}
    has_time = False
    n_samples = None
    for name, (var, dr) in placed.items():
        var_info_note = (notes_by_variable or {}).get(name, "")
        units = options.units.get(name, str(var.attrs.get("units", "1")))
        long_name = str(var.attrs.get("long_name", name))
        if sizes[name] != grid_sizes:
            variables[name] = VariableInfo(name, tuple(var.dims), tuple(var.shape), str(var.dtype), units, long_name,
                                           False, f"on another grid ({sizes[name]}; {grid_owner} grid is {grid_sizes})")
            continue
        renamed = var.copy(deep=False)
        renamed.dims = tuple(dr[d] for d in var.dims)
        order = [r for r in ROLES if r in renamed.dims]
        renamed = renamed.transpose(*order)
        for d, role in dr.items():
            file_dim_of.setdefault(role, d)
        if "sample" not in renamed.dims:
            renamed = lazy_variable(("sample", *renamed.dims), LeadingAxisArray(VariableArray(renamed)), renamed.attrs)
        n = renamed.sizes["sample"]
        if n_samples is None:
            n_samples = n
        elif n != n_samples:
            variables[name] = VariableInfo(name, renamed.dims, tuple(renamed.shape), str(var.dtype), units, long_name,
                                           False, f"{n} samples, other variables have {n_samples}")
            continue
        has_time |= "time" in renamed.dims
        attrs = {k: v for k, v in var.attrs.items() if k not in SKIP_ATTRS}
        attrs.update({"units": units, "long_name": long_name})
        renamed.attrs = attrs
        out_vars[name] = renamed
        variables[name] = VariableInfo(name, tuple(renamed.dims), tuple(renamed.shape), str(var.dtype), units,
                                       long_name, True, var_info_note)
    coords: dict[str, xr.Variable] = {}
    grid = None
    periodic_axes = set(options.periodic) if options.periodic is not None else set(periodic)
    bad = sorted(periodic_axes - set(AXIS_NAMES))
    if bad:
        raise UserError(f"unknown periodic axis {bad} (expected x, y, z)", source=path, field="problem.periodic")
    if grid_sizes:
        axes = []
        for axis in AXIS_NAMES[:len(grid_sizes)]:
            name = options.coords.get(axis, file_dim_of.get(axis, axis))
            coord = raw[name] if name in raw.variables and raw[name].ndim == 1 else None
            axes.append(build_axis(axis, grid_sizes[axis], coord, raw, options, axis in periodic_axes, path, notes))
        grid = Grid(tuple(axes))
        coords.update(grid_coords(grid))
        for a in grid.axes:
            coords[a.name].attrs["units"] = a.units
    times, time_units = None, "1"
    if has_time:
        n_t = next(v.sizes["time"] for v in out_vars.values() if "time" in v.dims)
        name = options.coords.get("time", file_dim_of.get("time", "time"))
        if name in raw.variables and raw[name].ndim == 1 and raw[name].size == n_t:
            times, time_units = _numeric_time(np.asarray(raw[name].values), str(raw[name].attrs.get("units", "1")))
        elif options.dt is not None:
            times = np.arange(n_t) * float(options.dt)
        else:
            times = np.arange(n_t, dtype=np.float64)
            notes.append("no time coordinate: steps numbered 0, 1, ... (set problem.dt)")
        time_units = options.units.get("time", time_units)
        coords["time"] = xr.Variable(("time",), times, {"units": time_units, "long_name": "time", "axis": "T"})
    if "split" in raw.coords and raw["split"].dims == (file_dim_of.get("sample", "sample"),):
        coords["split"] = xr.Variable(("sample",), np.asarray(raw["split"].values), raw["split"].attrs)
    attrs = {k: v for k, v in raw.attrs.items()}
    attrs.update({"source_file": path, "source_format": fmt})
    ds = xr.Dataset(out_vars, coords=coords, attrs=attrs)
    info = SourceInfo(path=path, format=fmt, variables=variables, grid=grid, n_samples=int(n_samples or 0),
                      times=times, time_units=time_units, splits=file_splits(ds),
                      dims={role: file_dim_of[role] for role in ROLES if role in file_dim_of},
                      files=files, attrs=dict(raw.attrs), notes=tuple(notes))
    return OpenedData(ds, info)
