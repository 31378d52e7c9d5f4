"""Data models: grids, meshes (UGRID, meshio), netCDF round trips, splits and training pairs."""

import numpy as np
import pytest
import torch
import xarray as xr

from pdesolve.data import FieldSpec, Grid, Mesh, read_netcdf, write_netcdf
from pdesolve.data.samples import MapPairs, WindowPairs, add_splits, batches, select_split
from pdesolve.data.tensors import domain_from_dataset, from_tensor, to_dataset, to_tensor
from pdesolve.errors import UserError

SPECS = {"u": FieldSpec("u", "m s-1", "velocity"), "p": FieldSpec("p", "Pa", "pressure")}


def test_grid_layouts_and_strides():
    periodic = Grid.uniform(1, 8)
    assert np.allclose(periodic.axes[0].coords(), np.arange(8) / 8)
    nodes = Grid.uniform(1, 5, layout="nodes")
    assert np.allclose(nodes.axes[0].coords(), [0, 0.25, 0.5, 0.75, 1.0])
    cells = Grid.uniform(1, 4, layout="cells", length=2.0)
    assert np.allclose(cells.axes[0].coords(), [0.25, 0.75, 1.25, 1.75])
    assert Grid.uniform(2, 421, layout="nodes").strides_to(Grid.uniform(2, 85, layout="nodes")) == (5, 5)
    with pytest.raises(UserError, match="integer stride"):
        Grid.uniform(2, 64).strides_to(Grid.uniform(2, 48))
    assert Grid.from_json(nodes.to_json()) == nodes


def test_grid_dataset_round_trip(tmp_path):
    grid = Grid.uniform(2, (8, 6), length=2.0, units="m")
    u = torch.randn(3, 4, 8, 6)
    ds = to_dataset({"u": u}, grid, SPECS, times=np.arange(4.0), attrs={"Conventions": "CF-1.10"})
    path = write_netcdf(ds, tmp_path / "a.nc")
    back = read_netcdf(path)
    assert back["u"].attrs["units"] == "m s-1" and back["u"].attrs["long_name"] == "velocity"
    assert back["x"].attrs["axis"] == "X" and back["time"].attrs["units"] == "1"
    assert domain_from_dataset(back) == grid
    t = to_tensor(back, ["u"])
    assert t.shape == (3, 4, 1, 8, 6) and torch.allclose(t[:, :, 0], u)
    assert torch.equal(from_tensor(t, ["u"], has_time=True)["u"], t[:, :, 0])


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.nc"
    ds = xr.Dataset({"a": ("n", np.arange(3.0))})
    write_netcdf(ds, target)
    bad = xr.Dataset({"a": ("n", np.array([object()], dtype=object))})
    with pytest.raises(ValueError):
        write_netcdf(bad, target)
    assert read_netcdf(target)["a"].values.tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["x.nc"]


def _square_mesh(n=4):
    x = np.linspace(0, 1, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    nodes = np.stack([X.ravel(), Y.ravel()], 1)
    cells = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, (i + 1) * n + j, (i + 1) * n + j + 1, i * n + j + 1
            cells += [[a, b, c], [a, c, d]]
    return Mesh(nodes, np.array(cells))


def test_mesh_topology():
    mesh = _square_mesh(4)
    assert mesh.n_nodes == 16 and mesh.n_cells == 18
    assert len(mesh.boundary_nodes()) == 12  # all but the 4 interior nodes
    assert mesh.edges().shape == (33, 2)
    assert np.all(mesh.signed_volumes() > 0) and np.isclose(mesh.signed_volumes().sum(), 1.0)
    flipped = mesh.nodes.copy()
    flipped[5] = [0.9, 0.9]
    assert (mesh.signed_volumes(flipped) < 0).any()
    with pytest.raises(UserError, match="do not exist"):
        Mesh(mesh.nodes, mesh.cells + 100)


def test_mesh_ugrid_round_trip(tmp_path):
    mesh = _square_mesh(5)
    values = torch.randn(2, mesh.n_nodes)
    ds = to_dataset({"p": values}, mesh, SPECS, attrs={"Conventions": "CF-1.10"})
    assert ds.attrs["Conventions"] == "CF-1.10 UGRID-1.0"
    assert ds["mesh"].attrs["cf_role"] == "mesh_topology" and ds["p"].attrs["location"] == "node"
    back = read_netcdf(write_netcdf(ds, tmp_path / "m.nc"))
    mesh2 = domain_from_dataset(back)
    assert isinstance(mesh2, Mesh)
    assert np.array_equal(mesh2.cells, mesh.cells) and np.allclose(mesh2.nodes, mesh.nodes)
    assert np.array_equal(mesh2.boundary, mesh.boundary)
    assert torch.allclose(to_tensor(back, ["p"])[:, 0], values)


def test_mesh_meshio_export(tmp_path):
    mesh = _square_mesh(3)
    path = mesh.write(tmp_path / "m.vtu", {"p": np.arange(mesh.n_nodes, dtype=float)})
    again = Mesh.read(path)
    assert np.array_equal(again.cells, mesh.cells) and np.allclose(again.nodes, mesh.nodes)


def test_splits_and_pairs():
    ds = xr.Dataset({"u": (("sample", "time", "x"), np.arange(5 * 6 * 4, dtype=float).reshape(5, 6, 4))})
    ds = add_splits(ds, 3, 1, 1)
    assert select_split(ds, "train").sizes["sample"] == 3
    assert select_split(ds, "test")["u"].values[0, 0, 0] == 4 * 24
    traj = torch.as_tensor(ds["u"].values)[:, :, None]
    pairs = WindowPairs(traj, window=2, horizon=3)
    assert len(pairs) == 5 * 2
    x, y = pairs.batch(torch.tensor([1]))
    assert torch.equal(x[0, :, 0], traj[0, 1:3, 0]) and torch.equal(y[0, :, 0], traj[0, 3:6, 0])
    seen = torch.cat([b[0] for b in batches(pairs, 3, generator=torch.Generator().manual_seed(0))])
    assert seen.shape[0] == len(pairs)
    maps = MapPairs(torch.randn(4, 2, 8), torch.randn(4, 1, 8))
    x, y = maps.batch(torch.tensor([0, 2]))
    assert x.shape == (2, 1, 2, 8) and y.shape == (2, 1, 1, 8)
    with pytest.raises(UserError, match="too short"):
        WindowPairs(traj, window=5, horizon=2)
