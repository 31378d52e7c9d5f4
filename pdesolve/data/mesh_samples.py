"""Datasets whose samples each live on their own mesh (varying geometry), in two netCDF layouts.

**Padded per-sample meshes** (reference data; `padded_dataset` / `sample_mesh`): every sample's
mesh is stored along ``sample`` with node and cell arrays padded to the largest sample, so splits
are plain ``isel(sample=...)``::

    node_x(sample, node), node_y(sample, node)     float64, NaN beyond node_count
    node_boundary(sample, node)                    int32, -1 beyond node_count
    cell_nodes(sample, cell, nodes_per_cell)       int32 (0-based), -1 beyond cell_count
    node_count(sample), cell_count(sample)         int32
    <field>(sample, node)                          float32, NaN beyond node_count

and the global attribute ``mesh_layout = "padded_per_sample"``.

**Disjoint-union UGRID** (predictions; `union_dataset` / `split_union`): all samples' meshes as
one UGRID-1.0 mesh (node and cell numbering concatenated sample after sample) with
``node_sample(node)`` naming each node's sample, so any UGRID tool opens it and
`Mesh.from_ugrid` reads it.

Tensor layout (`padded_tensors`): values ``(sample, channel, node)``, coordinates
``(sample, node, ndim)`` and a validity mask ``(sample, node)``, padding zero-filled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from pdesolve.data.fields import FieldSpec
from pdesolve.data.mesh import Mesh
from pdesolve.errors import UserError

PADDED_LAYOUT = "padded_per_sample"
_COORD_NAMES = ("node_x", "node_y", "node_z")


def padded_dataset(meshes: Sequence[Mesh], fields: Mapping[str, Sequence[np.ndarray]],
                   specs: Mapping[str, FieldSpec], attrs: Mapping[str, object] | None = None) -> xr.Dataset:
    """Samples on their own meshes: ``fields[name][i]`` has shape ``(meshes[i].n_nodes,)``."""
    n, ndim = len(meshes), meshes[0].ndim
    n_node = max(m.n_nodes for m in meshes)
    n_cell = max(m.n_cells for m in meshes)
    coords = np.full((ndim, n, n_node), np.nan)
    boundary = np.full((n, n_node), -1, np.int32)
    cells = np.full((n, n_cell, ndim + 1), -1, np.int32)
    for i, m in enumerate(meshes):
        coords[:, i, :m.n_nodes] = m.nodes.T
        boundary[i, :m.n_nodes] = m.boundary
        cells[i, :m.n_cells] = m.cells
    units = meshes[0].units
    variables: dict[str, xr.Variable] = {}
    for d in range(ndim):
        variables[_COORD_NAMES[d]] = xr.Variable(("sample", "node"), coords[d], {
            "units": units, "long_name": f"{'xyz'[d]} coordinate of mesh nodes", "axis": "XYZ"[d]})
    variables["node_boundary"] = xr.Variable(("sample", "node"), boundary, {
        "long_name": "boundary tag of each node (0 = interior, -1 = padding)", "units": "1"})
    variables["cell_nodes"] = xr.Variable(("sample", "cell", "nodes_per_cell"), cells, {
        "long_name": "nodes of each cell (0-based, -1 = padding)", "start_index": np.int32(0)})
    variables["node_count"] = xr.Variable(("sample",), np.array([m.n_nodes for m in meshes], np.int32),
                                          {"long_name": "number of mesh nodes of the sample", "units": "1"})
    variables["cell_count"] = xr.Variable(("sample",), np.array([m.n_cells for m in meshes], np.int32),
                                          {"long_name": "number of mesh cells of the sample", "units": "1"})
    for name, values in fields.items():
        if len(values) != n:
            raise UserError(f"field '{name}' has {len(values)} samples, expected {n}")
        arr = np.full((n, n_node), np.nan, np.float32)
        for i, v in enumerate(values):
            if np.shape(v) != (meshes[i].n_nodes,):
                raise UserError(f"field '{name}' of sample {i} has shape {np.shape(v)}, "
                                f"expected ({meshes[i].n_nodes},)")
            arr[i, :len(v)] = v
        variables[name] = xr.Variable(("sample", "node"), arr, specs[name].attrs())
    coord_names = {*_COORD_NAMES[:ndim], "node_count", "cell_count"}
    ds = xr.Dataset({k: v for k, v in variables.items() if k not in coord_names},
                    coords={k: v for k, v in variables.items() if k in coord_names},
                    attrs=dict(attrs or {}))
    ds.attrs["mesh_layout"] = PADDED_LAYOUT
    return ds


def is_padded(ds: xr.Dataset) -> bool:
    return ds.attrs.get("mesh_layout") == PADDED_LAYOUT


def _require_padded(ds: xr.Dataset) -> None:
    if not is_padded(ds):
        raise UserError(f"dataset is not in the '{PADDED_LAYOUT}' mesh layout (expected samples on "
                        "their own meshes)")


def sample_mesh(ds: xr.Dataset, i: int) -> Mesh:
    """The mesh of sample ``i`` of a padded dataset."""
    _require_padded(ds)
    n, c = int(ds["node_count"][i]), int(ds["cell_count"][i])
    names = [k for k in _COORD_NAMES if k in ds.variables]
    nodes = np.stack([ds[k].values[i, :n] for k in names], axis=1)
    return Mesh(nodes, ds["cell_nodes"].values[i, :c], ds["node_boundary"].values[i, :n],
                str(ds[names[0]].attrs.get("units", "1")))


def sample_values(ds: xr.Dataset, name: str, i: int) -> np.ndarray:
    """Field ``name`` on the nodes of sample ``i``, shape ``(node_count[i],)``."""
    _require_padded(ds)
    return np.asarray(ds[name].values[i, :int(ds["node_count"][i])])


def padded_tensors(ds: xr.Dataset, names: Sequence[str], *, dtype: torch.dtype = torch.float32
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(values (s, c, node), coords (s, node, ndim), mask (s, node))`` with padding set to 0."""
    _require_padded(ds)
    missing = [n for n in names if n not in ds.data_vars]
    if missing:
        raise UserError(f"dataset lacks variable(s) {missing}; it has {sorted(ds.data_vars)}")
    counts = np.asarray(ds["node_count"].values)
    mask = np.arange(ds.sizes["node"])[None, :] < counts[:, None]
    coords = np.stack([ds[k].values for k in _COORD_NAMES if k in ds.variables], axis=-1)
    values = np.stack([np.asarray(ds[n].values, np.float64) for n in names], axis=1)
    coords = np.where(mask[..., None], coords, 0.0)
    values = np.where(mask[:, None], values, 0.0)
    return (torch.as_tensor(values, dtype=dtype), torch.as_tensor(coords, dtype=dtype),
            torch.as_tensor(mask))


# ------------------------------------------------------------------------ UGRID union
def union_dataset(meshes: Sequence[Mesh], fields: Mapping[str, Sequence[np.ndarray]],
                  specs: Mapping[str, FieldSpec], attrs: Mapping[str, object] | None = None) -> xr.Dataset:
    """All ``meshes`` as one UGRID mesh with ``node_sample(node)``; ``fields[name][i]`` on mesh i."""
    offsets = np.cumsum([0] + [m.n_nodes for m in meshes])
    union = Mesh(np.concatenate([m.nodes for m in meshes]),
                 np.concatenate([m.cells + o for m, o in zip(meshes, offsets[:-1], strict=True)]),
                 np.concatenate([m.boundary for m in meshes]), meshes[0].units)
    data = {name: xr.Variable(("node",), np.concatenate([np.asarray(v, np.float32) for v in values]),
                              specs[name].attrs()) for name, values in fields.items()}
    ds = xr.Dataset(data, attrs=dict(attrs or {}))
    ds["node_sample"] = xr.Variable(("node",), np.repeat(np.arange(len(meshes), dtype=np.int32),
                                                         np.diff(offsets)),
                                    {"long_name": "sample each node belongs to", "units": "1",
                                     "mesh": "mesh", "location": "node"})
    return union.attach_to(ds)


def split_union(ds: xr.Dataset, names: Sequence[str]) -> tuple[list[Mesh], dict[str, list[np.ndarray]]]:
    """Inverse of `union_dataset`: the per-sample meshes and fields ``names`` on each."""
    if "node_sample" not in ds.variables:
        raise UserError("dataset has no 'node_sample' variable (expected a union of sample meshes)")
    union = Mesh.from_ugrid(ds)
    owner = np.asarray(ds["node_sample"].values)
    meshes, fields = [], {n: [] for n in names}
    for s in range(int(owner.max()) + 1):
        nodes = np.flatnonzero(owner == s)
        cells = union.cells[np.isin(union.cells[:, 0], nodes)] - nodes[0]
        meshes.append(Mesh(union.nodes[nodes], cells, union.boundary[nodes], union.units))
        for n in names:
            fields[n].append(np.asarray(ds[n].values[nodes]))
    return meshes, fields
