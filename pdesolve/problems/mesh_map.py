"""Problems of task ``mesh_map``: a geometry (given as fields on its own mesh) -> steady fields on
the same mesh. Every sample has its own mesh; data use the padded layout of
`pdesolve.data.mesh_samples`, and the geometry's boundary polygons are stored beside it
(``polygon_x/polygon_y(sample, polygon_vertex)``, NaN-padded, ``polygon_count(sample)``
vertices), so the signed distance can be evaluated anywhere (rasterisation for grid models).

A subclass defines `geometry` (the sample's polygons and mesh), `solve` (the reference solver on
one mesh), its fields and a ``mesh_size`` parameter (the default edge length); `generate` and the
classical baselines are shared.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from pdesolve.data.mesh import Mesh
from pdesolve.data.mesh_samples import padded_dataset, sample_mesh, sample_values
from pdesolve.errors import UserError
from pdesolve.numerics.meshing import signed_distance
from pdesolve.problems.base import Problem
from pdesolve.progress import make_progress


@dataclass
class Geometry:
    """One sample's geometry: the varying boundary polygon(s) and the mesh of the domain."""

    polygon: np.ndarray   # (m, 2) the varying boundary (void, obstacle, airfoil)
    mesh: Mesh


class MeshMapProblem(Problem):
    """Geometry -> steady fields, one mesh per sample.

    Class attributes:
        inputs: geometry fields a model receives (e.g. the signed distance).
        outputs: fields a model predicts.
        solver_name: the reference solver, for the files' ``source`` attribute.
    """

    task = "mesh_map"
    inputs: ClassVar[tuple[str, ...]]
    outputs: ClassVar[tuple[str, ...]]
    solver_name: ClassVar[str] = ""

    def mesh_size(self, resolution: int | None) -> float:
        """Target mesh edge length for a case's ``data.resolution`` (cells per unit length); without
        one, the problem's ``mesh_size`` parameter."""
        return self.params.mesh_size if resolution is None else 1.0 / resolution

    # ------------------------------------------------------------- what subclasses define
    @abstractmethod
    def geometry(self, seed: int, index: int, h: float) -> Geometry:
        """The geometry of sample ``index``: depends only on (``seed``, ``index``); meshed at ``h``."""

    @abstractmethod
    def solve(self, geometry: Geometry) -> dict[str, np.ndarray]:
        """The reference solution: every name of `outputs` -> values at the mesh nodes."""

    # --------------------------------------------------------------------------- shared
    def input_fields(self, geometry: Geometry) -> dict[str, np.ndarray]:
        """The geometry fields at the mesh nodes (default: the signed distance ``sdf``)."""
        return {"sdf": signed_distance(geometry.mesh.nodes, [geometry.polygon])}

    def recipe(self, n, seed, resolution):
        return {**super().recipe(n, seed, resolution), "mesh_size": self.mesh_size(resolution)}

    def samples(self, indices: Sequence[int], seed: int, resolution: int | None = None) -> xr.Dataset:
        """Samples ``indices`` (without splits): their meshes, input and output fields, polygons."""
        h = self.mesh_size(resolution)
        meshes, polygons = [], []
        fields: dict[str, list[np.ndarray]] = {n: [] for n in (*self.inputs, *self.outputs)}
        with make_progress() as bar:
            task = bar.add_task(f"generate {self.name}", total=len(indices), status="")
            for i in indices:
                geo = self.geometry(seed, int(i), h)
                values = {**self.input_fields(geo), **self.solve(geo)}
                for name in fields:
                    fields[name].append(values[name])
                meshes.append(geo.mesh)
                polygons.append(geo.polygon)
                bar.advance(task)
        attrs = self.dataset_attrs(source=self.solver_name, seed=seed, mesh_size=h)
        ds = padded_dataset(meshes, fields, self.fields, attrs)
        n_vert = max(len(p) for p in polygons)
        poly = np.full((2, len(polygons), n_vert), np.nan)
        for i, p in enumerate(polygons):
            poly[:, i, :len(p)] = p.T
        for d, axis in enumerate("xy"):
            ds[f"polygon_{axis}"] = xr.Variable(("sample", "polygon_vertex"), poly[d], {
                "units": meshes[0].units, "long_name": f"{axis} of the varying boundary polygon's vertices"})
        ds["polygon_count"] = xr.Variable(("sample",), np.array([len(p) for p in polygons], np.int32),
                                          {"long_name": "vertices of the boundary polygon", "units": "1"})
        ds["sample_index"] = xr.Variable(("sample",), np.asarray(indices, np.int64),
                                         {"long_name": "index of the sample in its seeded family",
                                          "units": "1"})
        return ds

    def generate(self, n, seed, *, resolution=None, device="cpu", batch_size=32):
        if resolution is not None and not isinstance(resolution, int):
            raise UserError("expected one integer: mesh cells per unit length", field="data.resolution")
        ds = self.samples(range(n), seed, resolution)
        recipe = self.recipe(n, seed, resolution)
        ds.attrs.update(self.recipe_attrs(recipe))
        return ds

    def baselines(self):
        return {b.name: b() for b in (TrainMean, NearestGeometry)}


def polygon_of(ds: xr.Dataset, i: int) -> np.ndarray:
    """The boundary polygon of sample ``i``, ``(m, 2)``."""
    m = int(ds["polygon_count"][i])
    return np.stack([ds["polygon_x"].values[i, :m], ds["polygon_y"].values[i, :m]], axis=1)


def sdf_on_points(ds: xr.Dataset, i: int, points: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """Signed distance to sample ``i``'s polygon (moved by ``offset``) at ``points (n, 2)``."""
    poly = polygon_of(ds, i) + (0.0 if offset is None else np.asarray(offset))
    return signed_distance(points, [poly])


def raster_points(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """``n x n`` node-layout points covering ``[lo, hi]``, shape ``(n, n, 2)`` (``[i, j]`` = (x_i, y_j))."""
    xs, ys = (np.linspace(lo[d], hi[d], n) for d in range(2))
    return np.stack(np.meshgrid(xs, ys, indexing="ij"), axis=-1)


class MeshBaseline:
    """A classical method: test fields from the training samples alone (no learning)."""

    name: ClassVar[str]
    description: ClassVar[str]

    def predict(self, train: xr.Dataset, test: xr.Dataset, names: Sequence[str]) -> list[np.ndarray]:
        """Per test sample, ``(node_count, len(names))`` predictions on its nodes."""
        raise NotImplementedError


def _nearest_node_values(train: xr.Dataset, j: int, names: Sequence[str], points: np.ndarray) -> np.ndarray:
    mesh = sample_mesh(train, j)
    _, idx = cKDTree(mesh.nodes).query(points)
    return np.stack([sample_values(train, n, j)[idx] for n in names], axis=1)


class TrainMean(MeshBaseline):
    """The mean training field, evaluated at each test node (nearest node of every training mesh)."""

    name = "train_mean"
    description = "mean of the training fields at the test nodes"

    def predict(self, train, test, names):
        trees = [(cKDTree(sample_mesh(train, j).nodes), j) for j in range(train.sizes["sample"])]
        out = []
        for i in range(test.sizes["sample"]):
            pts = sample_mesh(test, i).nodes
            acc = np.zeros((len(pts), len(names)))
            for tree, j in trees:
                idx = tree.query(pts)[1]
                acc += np.stack([sample_values(train, n, j)[idx] for n in names], axis=1)
            out.append(acc / len(trees))
        return out


class NearestGeometry(MeshBaseline):
    """The training sample whose geometry is closest (L2 distance of the signed distance on a
    64 x 64 raster of the training bounding box), its field taken at the test nodes."""

    name = "nearest_geometry"
    description = "field of the closest training geometry (signed-distance raster L2)"
    raster = 64

    def predict(self, train, test, names):
        nodes = np.concatenate([sample_mesh(train, j).nodes for j in range(train.sizes["sample"])])
        pts = raster_points(nodes.min(0), nodes.max(0), self.raster).reshape(-1, 2)
        train_sdf = np.stack([sdf_on_points(train, j, pts) for j in range(train.sizes["sample"])])
        out = []
        for i in range(test.sizes["sample"]):
            d = ((train_sdf - sdf_on_points(test, i, pts)[None]) ** 2).sum(1)
            out.append(_nearest_node_values(train, int(np.argmin(d)), names, sample_mesh(test, i).nodes))
        return out
