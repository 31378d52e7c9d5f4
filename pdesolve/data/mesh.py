"""Unstructured simplex meshes (triangles in 2-D, tetrahedra in 3-D) and their UGRID form.

A `Mesh` holds node coordinates, cell-to-node connectivity and a boundary tag per node. Fields on
a mesh live on its nodes: dataset dims ``(sample, [time], node)``. In netCDF the topology follows
the UGRID-1.0 conventions (a ``mesh`` variable with ``cf_role = "mesh_topology"``), and `write`
exports to any format meshio knows (``.vtu`` for ParaView).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from pdesolve.errors import UserError

_COORD_NAMES = ("node_x", "node_y", "node_z")
_MESHIO_CELL = {(2, 3): "triangle", (3, 4): "tetra"}


@dataclass(frozen=True, eq=False)
class Mesh:
    """A simplex mesh.

    Attributes:
        nodes: node coordinates, shape ``(n_nodes, ndim)``, float64, in ``units``.
        cells: node indices of each cell, shape ``(n_cells, ndim + 1)``, int64, counter-clockwise
            for triangles.
        boundary: tag per node, shape ``(n_nodes,)``, int32; 0 for interior nodes, a positive
            tag per boundary part (e.g. 1 = outer box, 2 = obstacle).
        units: CF units of the coordinates.
    """

    nodes: np.ndarray
    cells: np.ndarray
    boundary: np.ndarray = field(default=None)  # type: ignore[assignment]
    units: str = "1"

    def __post_init__(self) -> None:
        nodes = np.ascontiguousarray(self.nodes, dtype=np.float64)
        cells = np.ascontiguousarray(self.cells, dtype=np.int64)
        if nodes.ndim != 2 or nodes.shape[1] not in (2, 3):
            raise UserError(f"mesh nodes must have shape (n, 2) or (n, 3), got {nodes.shape}")
        if cells.ndim != 2 or cells.shape[1] != nodes.shape[1] + 1:
            raise UserError(
                f"mesh cells must have shape (m, {nodes.shape[1] + 1}) for {nodes.shape[1]}-D "
                f"simplices, got {cells.shape}"
            )
        if cells.size and (cells.min() < 0 or cells.max() >= len(nodes)):
            raise UserError("mesh cells refer to nodes that do not exist")
        boundary = self.boundary
        if boundary is None:
            boundary = np.zeros(len(nodes), np.int32)
            boundary[self._boundary_from_facets(cells, len(nodes))] = 1
        boundary = np.ascontiguousarray(boundary, dtype=np.int32)
        if boundary.shape != (len(nodes),):
            raise UserError(f"boundary tags must have shape ({len(nodes)},), got {boundary.shape}")
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "boundary", boundary)

    # ----------------------------------------------------------------- geometry and topology
    @property
    def ndim(self) -> int:
        return int(self.nodes.shape[1])

    @property
    def n_nodes(self) -> int:
        return int(self.nodes.shape[0])

    @property
    def n_cells(self) -> int:
        return int(self.cells.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        """Dataset dims of a field on this mesh."""
        return ("node",)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_nodes,)

    @staticmethod
    def _facets(cells: np.ndarray) -> np.ndarray:
        """All cell facets (edges of triangles, faces of tets), sorted node indices."""
        k = cells.shape[1]
        idx = [[j for j in range(k) if j != i] for i in range(k)]
        return np.sort(np.concatenate([cells[:, i] for i in idx]), axis=1)

    @classmethod
    def _boundary_from_facets(cls, cells: np.ndarray, n_nodes: int) -> np.ndarray:
        facets = cls._facets(cells)
        uniq, counts = np.unique(facets, axis=0, return_counts=True)
        return np.unique(uniq[counts == 1])

    def edges(self) -> np.ndarray:
        """Unique undirected edges, shape ``(n_edges, 2)``, each sorted (i < j)."""
        k = self.cells.shape[1]
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        e = np.concatenate([self.cells[:, [i, j]] for i, j in pairs])
        return np.unique(np.sort(e, axis=1), axis=0)

    def boundary_nodes(self) -> np.ndarray:
        """Indices of nodes with a non-zero boundary tag."""
        return np.flatnonzero(self.boundary)

    def signed_volumes(self, nodes: np.ndarray | None = None) -> np.ndarray:
        """Signed cell areas (2-D) or volumes (3-D), shape ``(n_cells,)``.

        A cell whose sign differs from the mesh's original orientation is inverted (tangled).
        """
        p = self.nodes if nodes is None else np.asarray(nodes, np.float64)
        v = p[self.cells[:, 1:]] - p[self.cells[:, :1]]
        return np.linalg.det(v) / (2.0 if self.ndim == 2 else 6.0)

    def with_nodes(self, nodes: np.ndarray) -> Mesh:
        """The same topology with moved nodes (e.g. after mesh movement)."""
        return Mesh(np.asarray(nodes), self.cells, self.boundary, self.units)

    # ----------------------------------------------------------------------------- UGRID
    def attach_to(self, ds: xr.Dataset) -> xr.Dataset:
        """Add this mesh's UGRID topology to ``ds`` and mark node variables as living on it."""
        coord_names = _COORD_NAMES[: self.ndim]
        conn = "volume_node_connectivity" if self.ndim == 3 else "face_node_connectivity"
        cell_dim = "volume" if self.ndim == 3 else "face"
        topo = {
            "cf_role": "mesh_topology",
            "long_name": "topology of the simplex mesh",
            "topology_dimension": self.ndim,
            "node_coordinates": " ".join(coord_names),
            conn: "cell_nodes",
            "node_dimension": "node",
            f"{cell_dim}_dimension": "cell",
        }
        out = ds.copy()
        out["mesh"] = xr.Variable((), np.int32(0), topo)
        for d, name in enumerate(coord_names):
            out.coords[name] = xr.Variable(
                ("node",), self.nodes[:, d],
                {"units": self.units, "long_name": f"{'xyz'[d]} coordinate of mesh nodes",
                 "axis": "XYZ"[d]},
            )
        out["cell_nodes"] = xr.Variable(
            ("cell", "nodes_per_cell"), self.cells.astype(np.int32),
            {"cf_role": conn, "start_index": np.int32(0), "long_name": "nodes of each cell"},
        )
        out["node_boundary"] = xr.Variable(
            ("node",), self.boundary,
            {"long_name": "boundary tag of each node (0 = interior)", "mesh": "mesh",
             "location": "node", "units": "1"},
        )
        for name, var in out.data_vars.items():
            if "node" in var.dims and name not in ("node_boundary",):
                var.attrs.setdefault("mesh", "mesh")
                var.attrs.setdefault("location", "node")
        conv = str(out.attrs.get("Conventions", "CF-1.10"))
        if "UGRID" not in conv:
            out.attrs["Conventions"] = f"{conv} UGRID-1.0"
        return out

    @classmethod
    def from_ugrid(cls, ds: xr.Dataset) -> Mesh:
        """Read the mesh written by `attach_to` (or any UGRID simplex mesh with 0-based indices)."""
        if "mesh" not in ds.variables:
            raise UserError("dataset has no 'mesh' topology variable (expected UGRID)")
        topo = ds["mesh"].attrs
        coords = str(topo["node_coordinates"]).split()
        nodes = np.stack([np.asarray(ds[c].values, np.float64) for c in coords], axis=1)
        conn_name = topo.get("volume_node_connectivity") or topo.get("face_node_connectivity")
        conn = ds[conn_name]
        cells = np.asarray(conn.values, np.int64) - int(conn.attrs.get("start_index", 0))
        boundary = ds["node_boundary"].values if "node_boundary" in ds.variables else None
        units = str(ds[coords[0]].attrs.get("units", "1"))
        return cls(nodes, cells, boundary, units)

    def to_dataset(self) -> xr.Dataset:
        """A dataset holding only this mesh's topology."""
        return self.attach_to(xr.Dataset(attrs={"Conventions": "CF-1.10"}))

    # ---------------------------------------------------------------------------- meshio
    def write(self, path: str | Path, point_data: dict[str, np.ndarray] | None = None) -> Path:
        """Export with meshio (format from the suffix, e.g. ``.vtu`` for ParaView)."""
        import meshio

        cell_type = _MESHIO_CELL[(self.ndim, self.cells.shape[1])]
        data = {"boundary": self.boundary, **(point_data or {})}
        mesh = meshio.Mesh(self.nodes, [(cell_type, self.cells)], point_data=data)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meshio.write(path, mesh)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Mesh:
        """Read a simplex mesh from any file meshio understands (gmsh ``.msh``, ``.vtu``, ...)."""
        import meshio

        try:
            m = meshio.read(path)
        except Exception as err:  # meshio raises many exception types for bad files
            raise UserError(f"cannot read mesh ({err})", source=str(path)) from None
        pts = m.points
        for cell_type, ndim in (("tetra", 3), ("triangle", 2)):
            if cell_type in m.cells_dict:
                return cls(pts[:, :ndim], m.cells_dict[cell_type])
        raise UserError("mesh has no triangles or tetrahedra", source=str(path))
