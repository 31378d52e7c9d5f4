"""Small files in every format a dataset case reads, written the way their own tools write them
(h5py for The Well's and PDEBench's published layouts, xarray for netCDF and zarr, numpy / torch
for arrays), with the arrays they hold, to be read back value for value."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
import xarray as xr

N, T, NX, NY = 6, 5, 8, 8


def fields(seed: int = 0, n: int = N, t: int = T, nx: int = NX, ny: int = NY) -> dict[str, np.ndarray]:
    """A smooth periodic trajectory ``u`` (n, t, nx, ny), a second state ``v``, and a map pair
    ``coeff`` -> ``sol`` (n, nx, ny); float32."""
    rng = np.random.default_rng(seed)
    x = np.arange(nx) / nx
    y = np.arange(ny) / ny
    X, Y = np.meshgrid(x, y, indexing="ij")
    a = rng.normal(size=(n, 1, 1, 1))
    b = rng.normal(size=(n, 1, 1, 1))
    times = np.arange(t).reshape(1, t, 1, 1) * 0.1
    u = a * np.sin(2 * np.pi * (X + times)) + b * np.cos(2 * np.pi * Y)
    v = b * np.cos(2 * np.pi * (X - times)) * np.sin(2 * np.pi * Y)
    coeff = np.exp(rng.normal(size=(n, nx, ny)) * 0.3)
    sol = np.cumsum(coeff, axis=1) / nx
    return {k: np.asarray(val, np.float32) for k, val in {"u": u, "v": v, "coeff": coeff, "sol": sol}.items()}


def write_netcdf(path: Path, f: dict[str, np.ndarray], *, zarr: bool = False) -> Path:
    """A CF file with the file's own dim names: ``run`` (samples), ``t``, ``lon``/``lat``-free x/y."""
    n, t, nx, ny = f["u"].shape
    ds = xr.Dataset(
        {"u": (("run", "t", "x", "y"), f["u"], {"units": "m s-1", "long_name": "velocity"}),
         "v": (("run", "t", "x", "y"), f["v"], {"units": "m s-1", "long_name": "other velocity"}),
         "coeff": (("run", "x", "y"), f["coeff"], {"units": "1", "long_name": "permeability"}),
         "sol": (("run", "x", "y"), f["sol"], {"units": "Pa", "long_name": "pressure"}),
         "reynolds": (("run",), np.arange(n, dtype=np.float64))},
        coords={"t": ("t", np.arange(t) * 0.1, {"units": "s", "axis": "T"}),
                "x": ("x", np.arange(nx) / nx, {"units": "m"}), "y": ("y", np.arange(ny) / ny, {"units": "m"})},
        attrs={"title": "test data"})
    if zarr:
        ds.to_zarr(path, mode="w", consolidated=False)
    else:
        ds.to_netcdf(path)
    return path


def write_the_well(path: Path, f: dict[str, np.ndarray], *, periodic: bool = True) -> Path:
    """The Well's HDF5 layout (docs/data_format.md of PolymathicAI/the_well): a scalar field
    ``u``, a vector field ``velocity`` (components u, v), a tensor field ``stress``, a constant
    field ``mask`` (no sample, no time axis), a field that varies along x only, scalars."""
    n, t, nx, ny = f["u"].shape
    with h5py.File(path, "w") as h:
        h.attrs.update({"simulation_parameters": ["Re"], "Re": 100.0, "dataset_name": "test_well",
                        "grid_type": "cartesian", "n_spatial_dims": 2, "n_trajectories": n})
        dims = h.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        time = dims.create_dataset("time", data=(np.arange(t) * 0.1).astype(np.float32))
        time.attrs["sample_varying"] = False
        for name, size in (("x", nx), ("y", ny)):
            d = dims.create_dataset(name, data=(np.arange(size) / size).astype(np.float32))
            d.attrs.update({"sample_varying": False, "time_varying": False})
        bcs = h.create_group("boundary_conditions")
        for axis in ("x", "y"):
            bc = bcs.create_group(f"{axis}_{'periodic' if periodic else 'wall'}")
            bc.attrs.update({"associated_dims": [axis], "associated_fields": [],
                             "bc_type": "periodic" if periodic else "wall", "sample_varying": False,
                             "time_varying": False})
            mask = np.zeros(nx if axis == "x" else ny, bool)
            mask[[0, -1]] = True
            bc.create_dataset("mask", data=mask)
            bc.create_dataset("values", data=np.zeros(0, np.float32))
        scalars = h.create_group("scalars")
        scalars.attrs["field_names"] = ["Re"]
        re = scalars.create_dataset("Re", data=np.array([100.0], np.float32))
        re.attrs.update({"sample_varying": False, "time_varying": False})
        t0 = h.create_group("t0_fields")
        t0.attrs["field_names"] = ["u", "mask", "profile"]
        for name, data, flags, varying in (
                ("u", f["u"], (True, True), [True, True]),
                ("mask", (f["coeff"][0] > 1).astype(np.float32), (False, False), [True, True]),
                ("profile", f["u"][:, :, :, 0], (True, True), [True, False])):
            d = t0.create_dataset(name, data=data)
            d.attrs.update({"sample_varying": flags[0], "time_varying": flags[1], "dim_varying": varying})
        t1 = h.create_group("t1_fields")
        t1.attrs["field_names"] = ["velocity"]
        vel = t1.create_dataset("velocity", data=np.stack([f["u"], f["v"]], axis=-1))
        vel.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True]})
        t2 = h.create_group("t2_fields")
        t2.attrs["field_names"] = ["stress"]
        stress = np.stack([np.stack([f["u"], f["v"]], -1), np.stack([f["v"], -f["u"]], -1)], -2)
        s = t2.create_dataset("stress", data=stress)
        s.attrs.update({"sample_varying": True, "time_varying": True, "dim_varying": [True, True],
                        "symmetric": False, "antisymmetric": False})
    return path


def write_the_well_folder(root: Path, sizes=(4, 1, 1)) -> tuple[Path, dict[str, dict]]:
    """A Well dataset folder ``root/data/{train,valid,test}/*.hdf5`` (two files in train)."""
    written = {}
    for split, n, seed in zip(("train", "valid", "test"), sizes, (0, 1, 2), strict=True):
        folder = root / "data" / split
        folder.mkdir(parents=True)
        if split == "train":
            halves = [fields(seed, n=n // 2), fields(seed + 10, n=n - n // 2)]
            for k, part in enumerate(halves):
                write_the_well(folder / f"part_{k}.hdf5", part)
            written[split] = {k: np.concatenate([h[k] for h in halves]) for k in halves[0]}
        else:
            written[split] = fields(seed, n=n)
            write_the_well(folder / f"{split}.hdf5", written[split])
    return root, written


def write_pdebench_tensor(path: Path, f: dict[str, np.ndarray]) -> Path:
    """1-D PDEBench layout: ``tensor`` (N, T, X), ``x-coordinate`` (cell centres), ``t-coordinate``
    with one entry more than the stored steps."""
    u = f["u"][:, :, :, 0]
    n, t, nx = u.shape
    with h5py.File(path, "w") as h:
        h["tensor"] = u
        h["x-coordinate"] = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
        h["t-coordinate"] = (np.arange(t + 1) * 0.1).astype(np.float32)
    return path


def write_pdebench_darcy(path: Path, f: dict[str, np.ndarray]) -> Path:
    """PDEBench's Darcy layout: ``nu`` (N, X, Y) -> ``tensor`` (N, 1, X, Y)."""
    n, nx, ny = f["coeff"].shape
    with h5py.File(path, "w") as h:
        h["nu"] = f["coeff"]
        h["tensor"] = f["sol"][:, None]
        h["x-coordinate"] = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
        h["y-coordinate"] = ((np.arange(ny) + 0.5) / ny).astype(np.float32)
        h["t-coordinate"] = np.zeros(1, np.float32)
    return path


def write_pdebench_cfd(path: Path, f: dict[str, np.ndarray]) -> Path:
    """PDEBench's compressible-flow layout: ``density``, ``pressure``, ``Vx``, ``Vy`` (N, T, X, Y)."""
    n, t, nx, ny = f["u"].shape
    with h5py.File(path, "w") as h:
        h["density"] = 1 + 0.1 * f["u"]
        h["pressure"] = 1 + 0.1 * f["v"]
        h["Vx"] = f["u"]
        h["Vy"] = f["v"]
        h["x-coordinate"] = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
        h["y-coordinate"] = ((np.arange(ny) + 0.5) / ny).astype(np.float32)
        h["t-coordinate"] = (np.arange(t) * 0.1).astype(np.float32)
    return path


def write_pdebench_groups(path: Path, f: dict[str, np.ndarray]) -> Path:
    """PDEBench's per-sample layout: ``0000/data`` (T, X, Y, C) with ``0000/grid/{x,y,t}``."""
    n, t, nx, ny = f["u"].shape
    with h5py.File(path, "w") as h:
        for i in range(n):
            g = h.create_group(f"{i:04d}")
            g["data"] = np.stack([f["u"][i], f["v"][i]], axis=-1)
            g["grid/x"] = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
            g["grid/y"] = ((np.arange(ny) + 0.5) / ny).astype(np.float32)
            g["grid/t"] = (np.arange(t) * 0.1).astype(np.float32)
    return path


def write_npz(path: Path, f: dict[str, np.ndarray]) -> Path:
    np.savez(path, u=f["u"], coeff=f["coeff"], sol=f["sol"], x=np.arange(f["u"].shape[2]) / f["u"].shape[2])
    return path


def write_pt(path: Path, f: dict[str, np.ndarray]) -> Path:
    torch.save({"u": torch.from_numpy(f["u"]), "coeff": torch.from_numpy(f["coeff"]),
                "sol": torch.from_numpy(f["sol"])}, path)
    return path


def write_big_file(path, n: int, size: int, channels: int) -> int:
    """A map in The Well's layout: ``channels`` input fields ``c0, c1, ...`` and the output ``sol``,
    each ``(n, size, size)`` float32 (``time_varying`` false), written a few samples at a time;
    returns the file's size in bytes."""
    x = np.arange(size) / size
    X, Y = np.meshgrid(x, x, indexing="ij")
    names = [f"c{k}" for k in range(channels)] + ["sol"]
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset_name": "big", "grid_type": "cartesian", "n_spatial_dims": 2, "n_trajectories": n})
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["time"] = np.zeros(1, np.float32)
        dims["time"].attrs["sample_varying"] = False
        for axis in ("x", "y"):
            dims[axis] = x.astype(np.float32)
            dims[axis].attrs.update({"sample_varying": False, "time_varying": False})
        group = f.create_group("t0_fields")
        group.attrs["field_names"] = names
        data = {}
        for name in names:
            data[name] = group.create_dataset(name, (n, size, size), np.float32, chunks=(1, size, size))
            data[name].attrs.update({"sample_varying": True, "time_varying": False, "dim_varying": [True, True]})
        rng = np.random.default_rng(0)
        for start in range(0, n, 8):
            k = min(8, n - start)
            a = rng.normal(size=(k, 1, 1))
            total = np.zeros((k, size, size))
            for c in range(channels):
                field = np.sin(2 * np.pi * ((c % 3 + 1) * X + a * Y + c / channels))
                data[f"c{c}"][start:start + k] = field
                total += field * (c + 1) / channels
            data["sol"][start:start + k] = total
    return os.path.getsize(path)


def map_case(path, channels: int, n_train: int, n_test: int, batch_size: int = 2):
    """A dataset case training a tiny FNO for one epoch on a `write_big_file` file."""
    from pdesolve.config import Case, ResolvedCase

    return ResolvedCase(Case(
        name="big", problem={"name": "dataset", "path": str(path), "task": "map",
                             "inputs": [f"c{k}" for k in range(channels)], "outputs": ["sol"]},
        data={"n_train": n_train, "n_val": 0, "n_test": n_test, "seed": 0},
        backend={"name": "fno", "modes": 2, "width": 4, "layers": 1, "projection_channels": 4},
        train={"epochs": 1, "batch_size": batch_size, "seed": 0}), "memory test")
