"""The one place where xarray datasets and torch tensors meet.

Layouts:

* dataset variables: dims ``(sample, [time], *domain.dims)`` -- e.g. ``(sample, time, x, y)`` on
  a grid or ``(sample, node)`` on a mesh;
* tensors: channel-first, ``(sample, [time], channel, *spatial)``, channels in the order of the
  variable names asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Axis, Grid
from pdesolve.data.mesh import Mesh
from pdesolve.errors import UserError

Domain = Grid | Mesh
AXIS_CF = {"x": "X", "y": "Y", "z": "Z"}


def grid_coords(grid: Grid) -> dict[str, xr.Variable]:
    """CF coordinate variables for ``grid``; their attributes rebuild the grid exactly."""
    out = {}
    for a in grid.axes:
        attrs = {
            "units": a.units,
            "long_name": f"{a.name} coordinate",
            "axis": AXIS_CF.get(a.name, a.name.upper()),
            "layout": a.layout,
            "domain_length": a.length,
            "domain_origin": a.origin,
        }
        if not a.equally_spaced:
            attrs["uniform"] = 0  # the values are the points (see docs/data-format.md)
        out[a.name] = xr.Variable((a.name,), a.coords(), attrs)
    return out


def grid_from_dataset(ds: xr.Dataset | xr.DataArray) -> Grid:
    """Rebuild the `Grid` of a dataset written by `to_dataset`."""
    axes = []
    for name in ("x", "y", "z"):
        if name not in ds.coords:
            break
        c = ds.coords[name]
        attrs = c.attrs
        if "layout" not in attrs:
            raise UserError(f"coordinate '{name}' has no 'layout' attribute (not a pdesolve grid)")
        points = tuple(np.asarray(c.values, np.float64)) if int(attrs.get("uniform", 1)) == 0 else None
        axes.append(
            Axis(
                name,
                int(c.size),
                float(attrs["domain_length"]),
                float(attrs["domain_origin"]),
                str(attrs["layout"]),
                str(attrs.get("units", "1")),
                points,
            )
        )
    if not axes:
        raise UserError("dataset has no x coordinate (expected fields on a grid)")
    return Grid(tuple(axes))


def domain_from_dataset(ds: xr.Dataset) -> Domain:
    """The grid or mesh the fields of ``ds`` live on."""
    if "mesh" in ds.variables and ds["mesh"].attrs.get("cf_role") == "mesh_topology":
        return Mesh.from_ugrid(ds)
    return grid_from_dataset(ds)


def _dims(domain: Domain) -> tuple[str, ...]:
    return domain.names if isinstance(domain, Grid) else ("node",)


def to_dataset(
    fields: Mapping[str, torch.Tensor | np.ndarray],
    domain: Domain,
    specs: Mapping[str, FieldSpec],
    *,
    times: Sequence[float] | np.ndarray | None = None,
    attrs: Mapping[str, object] | None = None,
    dtype: type = np.float32,
) -> xr.Dataset:
    """Build a self-describing dataset from tensors.

    Args:
        fields: name -> array of shape ``(sample, [time], *spatial)``.
        domain: the grid or mesh the values live on.
        specs: name -> metadata for every field.
        times: the time coordinate when the fields have a time axis.
        attrs: global attributes.
        dtype: storage dtype of the fields.
    """
    dims = _dims(domain)
    data_vars = {}
    for name, value in fields.items():
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        lead = ("sample", "time") if arr.ndim == len(dims) + 2 else ("sample",)
        if arr.ndim != len(lead) + len(dims):
            raise UserError(
                f"field '{name}' has shape {arr.shape}; expected (sample, [time], {', '.join(dims)})"
            )
        data_vars[name] = xr.Variable(lead + dims, arr.astype(dtype), specs[name].attrs())
    coords: dict[str, xr.Variable] = {}
    if times is not None:
        coords["time"] = xr.Variable(("time",), np.asarray(times, np.float64),
                                     {"units": "1", "long_name": "time", "axis": "T"})
    if isinstance(domain, Grid):
        coords.update(grid_coords(domain))
        ds = xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))
    else:
        ds = xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))
        ds = domain.attach_to(ds)
    return ds


def field_variables(ds: xr.Dataset, names: Sequence[str]) -> list[xr.Variable]:
    """The variables ``names`` of ``ds``, which must share their dims (channels of one tensor).

    Raises:
        UserError: a variable is missing or the variables' dims differ.
    """
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise UserError(f"dataset lacks variable(s) {missing}; it has {sorted(ds.data_vars)}")
    dims = ds[names[0]].dims
    for n in names:
        if ds[n].dims != dims:
            raise UserError(f"variable '{n}' has dims {ds[n].dims}, expected {dims}")
    return [ds[n].variable for n in names]


def to_tensor(
    ds: xr.Dataset,
    names: Sequence[str],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Stack variables ``names`` of ``ds`` as channels: ``(sample, [time], channel, *spatial)``.

    Raises:
        UserError: a variable is missing or the variables' dims differ.
    """
    variables = field_variables(ds, names)
    lead = 2 if "time" in variables[0].dims else 1
    arrays = [np.asarray(v.values) for v in variables]
    stacked = np.stack(arrays, axis=lead)
    return torch.as_tensor(stacked, dtype=dtype, device=device)


def from_tensor(
    tensor: torch.Tensor,
    names: Sequence[str],
    *,
    has_time: bool,
) -> dict[str, torch.Tensor]:
    """Split ``(sample, [time], channel, *spatial)`` into name -> ``(sample, [time], *spatial)``."""
    axis = 2 if has_time else 1
    if tensor.ndim <= axis or tensor.shape[axis] != len(names):
        raise UserError(
            f"tensor of shape {tuple(tensor.shape)} does not have {len(names)} channels on axis {axis}"
        )
    return {n: tensor.select(axis, i) for i, n in enumerate(names)}
