"""Readers of users' data: every format written here by its own tools, read back value for value,
lazily (a window reads only its window), with grids, units, periodicity and splits."""

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

from pdesolve.data import Grid
from pdesolve.data.fields import FieldSpec
from pdesolve.data.sources import LayoutOptions, detect_format, open_source
from pdesolve.data.sources.lazy import HDF5Array
from pdesolve.data.tensors import grid_from_dataset, to_dataset
from pdesolve.errors import UserError
from tests import own_data as od

LAYOUT = {"u": ("sample", "time", "x", "y"), "coeff": ("sample", "x", "y"), "sol": ("sample", "x", "y")}


@pytest.fixture(scope="module")
def f():
    return od.fields()


@pytest.mark.parametrize("zarr", [False, True])
def test_netcdf_and_zarr_in_the_files_own_dims(tmp_path, f, zarr):
    path = od.write_netcdf(tmp_path / ("a.zarr" if zarr else "a.nc"), f, zarr=zarr)
    assert detect_format(path) == ("zarr" if zarr else "netcdf")
    opened = open_source(path)
    ds, info = opened.dataset, opened.info
    assert info.dims == {"sample": "run", "time": "t", "x": "x", "y": "y"}
    assert ds["u"].dims == ("sample", "time", "x", "y") and ds["coeff"].dims == ("sample", "x", "y")
    for name in ("u", "v", "coeff", "sol"):
        assert np.array_equal(ds[name].values, f[name])
    assert ds["u"].attrs["units"] == "m s-1" and ds["sol"].attrs["long_name"] == "pressure"
    assert np.allclose(ds["time"].values, np.arange(5) * 0.1) and info.time_units == "s"
    grid = grid_from_dataset(ds)
    assert grid.shape == (8, 8) and grid.axes[0].units == "m" and not grid.periodic
    assert np.allclose(grid.axes[0].coords(), np.arange(8) / 8)
    assert not info.variables["reynolds"].on_grid and "no spatial axis" in info.variables["reynolds"].note


def test_periodic_axes_and_pdesolve_files_rebuild_their_grid(tmp_path, f):
    path = od.write_netcdf(tmp_path / "a.nc", f)
    grid = open_source(path, options=LayoutOptions(periodic=("x", "y"))).info.grid
    assert grid.periodic and grid.lengths == (1.0, 1.0) and grid.axes[0].origin == 0.0
    own = Grid.uniform(2, (8, 6), length=2.0, layout="nodes", units="m")
    ds = to_dataset({"u": torch.randn(3, 4, 8, 6)}, own, {"u": FieldSpec("u", "1", "u")}, times=np.arange(4.0))
    ds.to_netcdf(tmp_path / "own.nc")
    assert open_source(tmp_path / "own.nc").info.grid == own


def test_non_uniform_coordinates_make_a_non_uniform_axis(tmp_path, f):
    x = np.cumsum(np.linspace(1, 2, 8)) / 12
    ds = xr.Dataset({"sol": (("sample", "x", "y"), f["sol"]), "coeff": (("sample", "x", "y"), f["coeff"])},
                    coords={"x": x, "y": np.arange(8) / 8})
    ds.to_netcdf(tmp_path / "s.nc")
    grid = open_source(tmp_path / "s.nc").info.grid
    assert not grid.equally_spaced and grid.axes[1].equally_spaced
    assert np.allclose(grid.axes[0].coords(), x)
    assert Grid.from_json(grid.to_json()) == grid


def test_the_well_layout(tmp_path, f):
    path = od.write_the_well(tmp_path / "w.hdf5", f)
    assert detect_format(path) == "the_well"
    opened = open_source(path)
    ds, info = opened.dataset, opened.info
    assert info.periodic == ("x", "y") and info.grid.periodic
    assert np.array_equal(ds["u"].values, f["u"])
    assert np.array_equal(ds["velocity_x"].values, f["u"]) and np.array_equal(ds["velocity_y"].values, f["v"])
    assert np.array_equal(ds["stress_xy"].values, f["v"]) and np.array_equal(ds["stress_yx"].values, f["v"])
    assert np.array_equal(ds["stress_yy"].values, -f["u"])
    # stored without sample and time axes / along x only: repeated on reading
    assert ds["mask"].dims == ("sample", "x", "y")
    assert np.array_equal(ds["mask"].values, np.broadcast_to((f["coeff"][0] > 1), (6, 8, 8)).astype(np.float32))
    assert np.array_equal(ds["profile"].values, np.broadcast_to(f["u"][:, :, :, :1], f["u"].shape))
    assert "component xy" in info.variables["stress_xy"].note
    assert ds.attrs["dataset_name"] == "test_well" and ds.attrs["scalar_Re"] == 100.0
    walls = od.write_the_well(tmp_path / "walls.hdf5", f, periodic=False)
    assert open_source(walls).info.periodic == ()


def test_the_well_folder_gives_the_splits(tmp_path):
    root, written = od.write_the_well_folder(tmp_path / "set")
    opened = open_source(root)
    assert opened.info.splits == {"train": 4, "validation": 1, "test": 1} and opened.info.files == 4
    assert opened.dataset["split"].values.tolist() == [0, 0, 0, 0, 1, 2]
    expected = np.concatenate([written[s]["u"] for s in ("train", "valid", "test")])
    assert np.array_equal(opened.dataset["u"].values, expected)
    assert np.array_equal(opened.dataset["u"][5, 2].values, written["test"]["u"][0, 2])


def test_pdebench_layouts(tmp_path, f):
    one = open_source(od.write_pdebench_tensor(tmp_path / "adv.h5", f))
    assert one.info.format == "pdebench" and one.info.grid.shape == (8,)
    assert np.array_equal(one.dataset["tensor"].values, f["u"][:, :, :, 0])
    assert len(one.info.times) == 5 and any("t-coordinate" in n for n in one.info.notes)
    assert np.allclose(one.info.grid.axes[0].coords(), (np.arange(8) + 0.5) / 8)
    darcy = open_source(od.write_pdebench_darcy(tmp_path / "darcy.h5", f)).dataset
    assert darcy["nu"].dims == darcy["tensor"].dims == ("sample", "x", "y")
    assert np.array_equal(darcy["nu"].values, f["coeff"]) and np.array_equal(darcy["tensor"].values, f["sol"])
    cfd = open_source(od.write_pdebench_cfd(tmp_path / "cfd.hdf5", f)).dataset
    assert set(cfd.data_vars) == {"density", "pressure", "Vx", "Vy"}
    assert np.array_equal(cfd["Vy"].values, f["v"]) and cfd["density"].dims == ("sample", "time", "x", "y")
    groups = open_source(od.write_pdebench_groups(tmp_path / "rd.h5", f))
    assert groups.info.n_samples == 6
    assert np.array_equal(groups.dataset["data_0"].values, f["u"])
    assert np.array_equal(groups.dataset["data_1"][4, 1:3].values, f["v"][4, 1:3])


def test_plain_arrays_with_a_stated_layout(tmp_path, f):
    for path in (od.write_npz(tmp_path / "a.npz", f), od.write_pt(tmp_path / "a.pt", f)):
        opened = open_source(path, options=LayoutOptions(layout=LAYOUT))
        for name in LAYOUT:
            assert np.array_equal(opened.dataset[name].values, f[name])
        assert opened.dataset["u"].dims == LAYOUT["u"]
    assert np.allclose(open_source(tmp_path / "a.npz", options=LayoutOptions(layout=LAYOUT)).info.grid.axes[0].coords(),
                       np.arange(8) / 8)  # the file's 1-D array ``x``
    plain = open_source(tmp_path / "a.pt")
    assert not plain.info.variables["u"].on_grid and "problem.layout" in plain.info.variables["u"].note
    with pytest.raises(UserError, match="has 4 axes"):
        open_source(tmp_path / "a.pt", options=LayoutOptions(layout=("sample", "x", "y")))


def test_splits_mapping_and_folders_of_files(tmp_path):
    parts = {k: od.fields(seed, n=n) for k, seed, n in (("train", 0, 3), ("val", 1, 2), ("test", 2, 1))}
    paths = {k: str(od.write_netcdf(tmp_path / f"{k}.nc", v)) for k, v in parts.items()}
    opened = open_source(paths)
    assert opened.info.splits == {"train": 3, "validation": 2, "test": 1}
    assert np.array_equal(opened.dataset["sol"].values, np.concatenate([parts[k]["sol"] for k in parts]))
    folder = tmp_path / "many"
    folder.mkdir()
    for k in ("a", "b"):
        od.write_netcdf(folder / f"{k}.nc", od.fields(ord(k), n=2))
    joined = open_source(folder)
    assert joined.info.n_samples == 4 and joined.info.files == 2 and not joined.info.splits


def test_reading_a_window_reads_only_that_window(tmp_path, f, monkeypatch):
    path = od.write_the_well(tmp_path / "w.hdf5", f)
    reads = []
    original = HDF5Array._read

    def spy(self, key):
        reads.append((self.name, key))
        return original(self, key)

    monkeypatch.setattr(HDF5Array, "_read", spy)
    ds = open_source(path).dataset.isel(sample=[1, 4])
    assert reads == []  # opening and selecting read nothing
    window = ds["u"].variable[1, 2:4].values
    assert np.array_equal(window, f["u"][4, 2:4])
    (name, key), = reads  # one read, of that window of the file's sample 4
    assert name == "t0_fields/u" and key[0] == 4 and key[1] == slice(2, 4, 1)
    assert all(k == slice(None) for k in key[2:])


def test_bad_files(tmp_path, f):
    (tmp_path / "x.bin").write_bytes(b"\x00" * 64)
    with pytest.raises(UserError, match="cannot tell the format"):
        open_source(tmp_path / "x.bin")
    with pytest.raises(UserError, match="unknown format 'grib'"):
        open_source(od.write_netcdf(tmp_path / "a.nc", f), "grib")
    xr.Dataset(attrs={"title": "nothing"}).to_netcdf(tmp_path / "empty.nc")
    with pytest.raises(UserError, match="empty"):
        open_source(tmp_path / "empty.nc")
    with pytest.raises(UserError, match="no such file"):
        open_source(tmp_path / "missing.nc")
    torch.save({"u": torch.zeros(2, 3), "note": "text"}, tmp_path / "mixed.pt")
    with pytest.raises(UserError, match="entry 'note' is a str; expected only tensors"):
        open_source(tmp_path / "mixed.pt")
    torch.save({"u": torch.zeros(2, 3), "f": np.zeros(2)}, tmp_path / "pickled.pt")
    with pytest.raises(UserError, match="weights_only=True"):
        open_source(tmp_path / "pickled.pt")
    np.savez(tmp_path / "objects.npz", u=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UserError, match="objects"):
        open_source(tmp_path / "objects.npz")
    with h5py.File(tmp_path / "odd.h5", "w") as h:
        h["something"] = np.zeros(3)
    with pytest.raises(UserError, match="cannot tell the format"):
        open_source(tmp_path / "odd.h5")
    ds = xr.Dataset({"u": (("sample", "foo", "x"), np.zeros((2, 3, 4)))})
    ds.to_netcdf(tmp_path / "foo.nc")
    note = open_source(tmp_path / "foo.nc").info.variables["u"].note
    assert "dimension 'foo' of variable 'u' cannot be told" in note
    assert open_source(tmp_path / "foo.nc", options=LayoutOptions(dims={"time": "foo"})).info.variables["u"].on_grid
