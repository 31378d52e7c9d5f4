"""The Well's HDF5 layout (its published data format, ``docs/data_format.md`` of PolymathicAI/the_well).

One file holds ``n_trajectories`` trajectories::

    root  @dataset_name @grid_type @n_spatial_dims @n_trajectories @simulation_parameters, one @ per parameter
      dimensions/  @spatial_dims = [x, y]; time (T) or (B, T); x (W), y (H)  (@sample_varying)
      boundary_conditions/<name>/  @bc_type (periodic | wall | open) @associated_dims; mask
      scalars/     @field_names; one dataset each (@sample_varying, @time_varying)
      t0_fields/   @field_names; scalar fields   [B] [T] *spatial
      t1_fields/   @field_names; vector fields   [B] [T] *spatial D
      t2_fields/   @field_names; tensor fields   [B] [T] *spatial D D
      (each field: @sample_varying, @time_varying, @dim_varying per spatial axis)

A field is stored only along the axes it varies on; the rest are repeated on reading
(`BroadcastArray`). Vector and tensor components become variables named like The Well's own
loader names its channels: ``velocity_x``, ``velocity_y``, ``stress_xy``. Axes that a
``periodic`` boundary condition is associated with are periodic. Constant scalars go to the
global attributes (``scalar_<name>``). A dataset folder with ``train/ valid/ test/`` (also under
``data/``) gives the splits (`pdesolve.data.sources.base.open_source`).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr

from pdesolve.data.sources.base import LayoutOptions, OpenedData, Reader, VariableInfo
from pdesolve.data.sources.hdf5 import HDF5_SUFFIXES, probe_hdf5
from pdesolve.data.sources.layout import to_layout
from pdesolve.data.sources.lazy import BroadcastArray, ComponentArray, HDF5Array, lazy_variable
from pdesolve.errors import UserError

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _names(attr) -> list[str]:
    return [_text(v) for v in np.atleast_1d(attr)] if attr is not None else []


def _flag(attrs, key: str, default: bool = True) -> bool:
    return bool(attrs[key]) if key in attrs else default


def _attr_value(value):
    """An HDF5 attribute as a netCDF-friendly global attribute."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_attr_value(v) for v in value.tolist()] if value.dtype.kind in "OSU" else value
    if isinstance(value, np.generic):
        return value.item()
    return value


class TheWellReader(Reader, name="the_well"):
    """The Well's HDF5 files."""

    suffixes = HDF5_SUFFIXES
    priority = 10
    description = "The Well's HDF5 layout (t0/t1/t2_fields, dimensions, boundary_conditions)"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return probe_hdf5(path, lambda f: "dimensions" in f and any(g in f for g in FIELD_GROUPS))

    def open(self, path: Path, options: LayoutOptions) -> OpenedData:
        import h5py

        source = str(path)
        with h5py.File(path, "r") as f:
            missing = [g for g in ("dimensions", "t0_fields") if g not in f]
            if missing:
                raise UserError(f"not The Well's layout: no {', '.join(missing)} group", source=source)
            dims_group = f["dimensions"]
            spatial = _names(dims_group.attrs.get("spatial_dims"))
            if not spatial:
                raise UserError("dimensions/@spatial_dims is missing", source=source)
            if len(spatial) > 3:
                raise UserError(f"{len(spatial)} spatial dims {spatial}; pdesolve grids have at most 3",
                                source=source)
            roles = {"sample": "sample", "time": "time", **{d: a for d, a in zip(spatial, "xyz", strict=False)}}
            n_traj = int(f.attrs.get("n_trajectories", 0)) or self._count_trajectories(f)
            coords, notes = {}, []
            sizes = []
            for d in spatial:
                values = np.asarray(dims_group[d][...])
                if values.ndim == 2:  # sample-varying coordinates: pdesolve grids are shared by samples
                    notes.append(f"coordinate {d} varies by sample; the first sample's is used")
                    values = values[0]
                coords[d] = xr.Variable((d,), values, {"units": "1", "long_name": f"{d} coordinate"})
                sizes.append(values.size)
            time = np.asarray(dims_group["time"][...])
            if time.ndim == 2:
                if not np.allclose(time, time[:1]):
                    notes.append("time varies by sample; the first sample's is used")
                time = time[0]
            n_steps = time.size
            coords["time"] = xr.Variable(("time",), time, {"units": "1", "long_name": "time"})
            periodic = self._periodic_axes(f, spatial, roles)
            data_vars, by_variable, extras = {}, {}, {}
            for order, group in enumerate(FIELD_GROUPS):
                if group not in f:
                    continue
                for field in _names(f[group].attrs.get("field_names")) or list(f[group].keys()):
                    ds = f[group][field]
                    a = ds.attrs
                    lead = (["sample"] if _flag(a, "sample_varying") else []) + \
                           (["time"] if _flag(a, "time_varying") else [])
                    varying = [bool(v) for v in np.atleast_1d(a.get("dim_varying", [True] * len(spatial)))]
                    stored_dims = lead + [d for d, v in zip(spatial, varying, strict=True) if v]
                    comp_shape = tuple(ds.shape[len(stored_dims):])
                    if order and comp_shape not in ((len(spatial),) * order, (len(spatial) ** order,)):
                        raise UserError(f"{group}/{field} has shape {ds.shape}; expected {order} trailing "
                                        f"axes of size {len(spatial)}", source=source)
                    base = HDF5Array(source, f"{group}/{field}", ds.shape, ds.dtype)
                    full_dims = ["sample"] + (["time"] if "time" in lead else []) + list(spatial)
                    full_shape = [n_traj] + ([n_steps] if "time" in lead else []) + sizes
                    kept = ["sample" in lead] + ([True] if "time" in lead else []) + varying
                    for idx, suffix in self._components(order, spatial, comp_shape):
                        part = ComponentArray(base, idx) if idx else base
                        if not all(kept):
                            part = BroadcastArray(part, full_shape, kept)
                        name = f"{field}_{suffix}" if suffix else field
                        data_vars[name] = lazy_variable(full_dims, part, {"units": "1", "long_name": name})
                        if not all(kept) or suffix:
                            made = [f"component {suffix} of {group}/{field}"] if suffix else []
                            if not all(kept):
                                made.append("repeated along " + ", ".join(
                                    d for d, k in zip(full_dims, kept, strict=True) if not k))
                            by_variable[name] = "; ".join(made)
            attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
            if "scalars" in f:
                for name in _names(f["scalars"].attrs.get("field_names")) or list(f["scalars"].keys()):
                    s = f["scalars"][name]
                    if not _flag(s.attrs, "sample_varying", False) and not _flag(s.attrs, "time_varying", False):
                        attrs[f"scalar_{name}"] = _attr_value(np.asarray(s[...]).reshape(-1)[0])
                    else:
                        dims = tuple(d for d, key in (("sample", "sample_varying"), ("time", "time_varying"))
                                     if _flag(s.attrs, key, False))
                        extras[name] = VariableInfo(name, dims, tuple(s.shape), str(s.dtype), on_grid=False,
                                                    note="a scalar per sample or step (not a field on the grid)")
        raw = xr.Dataset(data_vars, coords=coords, attrs=attrs)
        return to_layout(raw, options, path=source, fmt=self.name, roles=roles, periodic=periodic, notes=notes,
                         notes_by_variable=by_variable, extra_variables=extras)

    @staticmethod
    def _count_trajectories(f) -> int:
        """Trajectories from the first sample-varying field (when ``@n_trajectories`` is absent)."""
        for group in FIELD_GROUPS:
            for ds in (f[group].values() if group in f else []):
                if _flag(ds.attrs, "sample_varying"):
                    return int(ds.shape[0])
        return 1

    @staticmethod
    def _components(order: int, spatial: list[str], comp_shape: tuple[int, ...]):
        """(index into the trailing axes, name suffix) of each component of a tensor field."""
        if order == 0:
            return [((), "")]
        combos = list(itertools.product(range(len(spatial)), repeat=order))
        flat = len(comp_shape) == 1 and order > 1
        return [((int(np.ravel_multi_index(c, (len(spatial),) * order)),) if flat else c,
                 "".join(spatial[i] for i in c)) for c in combos]

    @staticmethod
    def _periodic_axes(f, spatial: list[str], roles: dict[str, str]) -> list[str]:
        """Axes a periodic boundary condition is associated with."""
        out = []
        for bc in f.get("boundary_conditions", {}).values():
            if _text(bc.attrs.get("bc_type", "")).lower() != "periodic":
                continue
            out += [roles[d] for d in _names(bc.attrs.get("associated_dims")) if d in roles]
        return sorted(set(out))
