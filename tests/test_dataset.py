"""``dataset`` cases: train a few steps from a file of every format, every operator backend on a
file, baselines without a reference solver, zero-shot rollout on another file, inspect and
convert, and bad input (one line naming the file, exit 2, nothing written)."""

import json

import numpy as np
import pytest
import torch
import xarray as xr
import yaml
from pdesolve.cli.app import app
from typer.testing import CliRunner

from pdesolve.config import load_case
from pdesolve.data import read_netcdf
from pdesolve.data.samples import select_split
from pdesolve.data.tensors import grid_from_dataset, to_tensor
from pdesolve.engines.compare import compare_run
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.train import train_case
from tests import own_data as od
from tests.helpers import write_case

runner = CliRunner()
TINY_FNO = {"name": "fno", "modes": 2, "width": 8, "layers": 1, "projection_channels": 8}
LAYOUT = {"u": ["sample", "time", "x", "y"], "coeff": ["sample", "x", "y"], "sol": ["sample", "x", "y"]}


def _case(path, problem, backend=None, **sections):
    return {"name": "own", "problem": {"name": "dataset", "path": str(path), **problem},
            "data": {"n_train": 4, "n_val": 1, "n_test": 1, "seed": 0},
            "backend": backend or {**TINY_FNO, "window": 1},
            "train": {"epochs": 1, "batch_size": 4, "seed": 0}, "output": {"figures": False}, **sections}


FORMATS = {
    "netcdf_trajectory": (od.write_netcdf, "a.nc", {"task": "trajectory", "inputs": ["u", "v"],
                                                    "periodic": ["x", "y"]}),
    "netcdf_map": (od.write_netcdf, "a.nc", {"task": "map", "inputs": ["coeff"], "outputs": ["sol"]}),
    "zarr": (lambda p, f: od.write_netcdf(p, f, zarr=True), "a.zarr", {"task": "trajectory", "inputs": ["u"]}),
    "the_well": (od.write_the_well, "w.hdf5", {"task": "trajectory", "inputs": ["velocity_x", "velocity_y"]}),
    "pdebench_1d": (od.write_pdebench_tensor, "adv.h5", {"task": "trajectory", "inputs": ["tensor"],
                                                        "periodic": ["x"]}),
    "pdebench_darcy": (od.write_pdebench_darcy, "darcy.h5", {"task": "map", "inputs": ["nu"], "outputs": ["tensor"]}),
    "pdebench_cfd": (od.write_pdebench_cfd, "cfd.hdf5", {"task": "trajectory",
                                                         "inputs": ["density", "pressure", "Vx", "Vy"]}),
    "pdebench_groups": (od.write_pdebench_groups, "rd.h5", {"task": "trajectory", "inputs": ["data_0", "data_1"]}),
    "npz": (od.write_npz, "a.npz", {"task": "map", "inputs": ["coeff"], "outputs": ["sol"], "layout": LAYOUT}),
    "pt": (od.write_pt, "a.pt", {"task": "trajectory", "inputs": ["u"], "layout": LAYOUT, "dt": 0.1}),
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_train_a_few_steps_from_every_format(tmp_path, fmt):
    write, name, problem = FORMATS[fmt]
    path = write(tmp_path / name, od.fields())
    case = load_case(write_case(tmp_path, _case(path, problem)))
    summary = train_case(case, run_dir=tmp_path / "run", device="cpu")
    assert np.isfinite(summary.test["test_rel_l2"]) and summary.fit.epochs == 1
    assert summary.data_path == path.absolute()
    roll = read_netcdf(summary.rollout["path"])
    out = problem.get("outputs", problem["inputs"])[0]
    assert f"{out}_reference" in roll and roll[out].attrs["units"]


def test_the_well_folder_splits_and_overrides(tmp_path):
    root, written = od.write_the_well_folder(tmp_path / "set")
    case = load_case(write_case(tmp_path, _case(root, {"task": "trajectory", "inputs": ["u"]})))
    data, path, generated = load_or_generate(case)
    assert not generated and path == root.absolute()
    assert np.array_equal(to_tensor(select_split(data, "test"), ["u"])[:, :, 0], torch.from_numpy(written["test"]["u"]))
    assert data["sample_index"].values.tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(Exception, match="5 train samples asked for; the file's train split has 4"):
        load_case(write_case(tmp_path, _case(root, {"task": "trajectory", "inputs": ["u"]})), ["data.n_train=5"])
    # a {train, val, test} mapping, one entry replaced from the command line
    parts = {k: str(od.write_netcdf(tmp_path / f"{k}.nc", od.fields(s, n=n))) for k, s, n in
             (("train", 0, 4), ("val", 1, 1), ("test", 2, 1), ("other", 3, 5))}
    mapping = {k: parts[k] for k in ("train", "val", "test")}
    raw = _case("", {"task": "map", "inputs": ["sol"], "outputs": ["coeff"]})
    raw["problem"]["path"] = mapping
    case = load_case(write_case(tmp_path, raw), [f"problem.path.train={parts['other']}", "problem.inputs=[coeff]",
                                                 "problem.outputs=[sol]", "data.n_train=5"])
    data, _, _ = load_or_generate(case)
    assert case.case.problem["inputs"] == ["coeff"] and data.sizes["sample"] == 7
    assert np.array_equal(select_split(data, "train")["coeff"].values, od.fields(3, n=5)["coeff"])


def test_a_split_of_one_file_is_drawn_by_the_seed(tmp_path):
    path = od.write_netcdf(tmp_path / "a.nc", od.fields(n=20))
    case = load_case(write_case(tmp_path, _case(path, {"task": "map", "inputs": ["coeff"], "outputs": ["sol"]})),
                     ["data.n_train=12", "data.n_val=3", "data.n_test=5", "data.seed=4"])
    data, _, _ = load_or_generate(case)
    index = data["sample_index"].values
    assert sorted(index) == sorted(set(index)) and len(index) == 20
    order = np.random.default_rng(4).permutation(20)
    assert select_split(data, "train")["sample_index"].values.tolist() == sorted(order[:12])
    assert np.array_equal(select_split(data, "test")["sol"].values, od.fields(n=20)["sol"][sorted(order[15:])])


BACKENDS = {
    "fno": {**TINY_FNO, "window": 2},
    "tfno": {**TINY_FNO, "name": "tfno", "window": 2, "rank": 0.5},
    "mg-tfno": {**TINY_FNO, "name": "mg-tfno", "window": 1, "levels": 1, "rank": 0.5},
    "lsm": {"name": "lsm", "window": 2, "width": 8, "heads": 4, "projection_channels": 8},
    "ifactformer": {"name": "ifactformer", "window": 2, "dim": 8, "heads": 2, "dim_head": 4, "layers": 2},
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_operator_backend_trains_on_a_file(tmp_path, backend):
    path = od.write_the_well(tmp_path / "w.hdf5", od.fields(nx=16, ny=16))
    case = load_case(write_case(tmp_path, _case(path, {"task": "trajectory", "inputs": ["u", "velocity_y"]},
                                                BACKENDS[backend])))
    summary = train_case(case, run_dir=tmp_path / "run", device="cpu", rollout=False)
    assert np.isfinite(summary.test["test_rel_l2"])


def test_compare_against_persistence_and_the_training_mean(tmp_path):
    f = od.fields(n=8)
    path = od.write_netcdf(tmp_path / "a.nc", f)
    raw = _case(path, {"task": "trajectory", "inputs": ["u"], "periodic": ["x", "y"]},
                compare={"baselines": ["persistence", "train_mean"]})
    raw["data"] = {"n_train": 5, "n_val": 1, "n_test": 2, "seed": 1}
    case = load_case(write_case(tmp_path, raw))
    summary = train_case(case, run_dir=tmp_path / "run", device="cpu", rollout=False)
    result = compare_run(summary.run_dir)
    assert [r["method"] for r in result.rows] == ["fno", "persistence", "train_mean"]
    assert (result.out_dir / "statistics.nc").is_file() and (result.out_dir / "table.md").is_file()
    problem = case.problem
    data, _, _ = load_or_generate(case)
    grid = grid_from_dataset(data)
    train_index = select_split(data, "train")["sample_index"].values
    mean = problem.baselines()["train_mean"].run(problem, torch.zeros(2, 1, 8, 8), grid, 0.0, [0.1, 0.2])
    expected = f["u"][train_index].astype(np.float64).mean(axis=(0, 1))
    assert mean.shape == (2, 2, 1, 8, 8) and np.allclose(mean[0, 1, 0].numpy(), expected, atol=1e-6)
    start = torch.randn(2, 1, 8, 8)
    held = problem.baselines()["persistence"].run(problem, start, grid, 0.0, [0.1, 0.2, 0.3])
    assert held.shape == (2, 3, 1, 8, 8) and torch.equal(held[:, 2], start)


def test_coarse_grid_data_is_a_baseline(tmp_path):
    fine = od.fields(n=6, nx=16, ny=16)
    ds = xr.Dataset({"u": (("run", "t", "x", "y"), fine["u"]),
                     "u_lo": (("run", "t", "xc", "yc"), fine["u"][:, :, ::2, ::2])},
                    coords={"t": ("t", np.arange(5) * 0.1), "x": np.arange(16) / 16, "y": np.arange(16) / 16,
                            "xc": np.arange(8) / 8, "yc": np.arange(8) / 8})
    ds.to_netcdf(tmp_path / "two.nc")
    raw = _case(tmp_path / "two.nc", {"task": "trajectory", "inputs": ["u"], "periodic": ["x", "y"],
                                      "coarse": {"u": "u_lo"}}, compare={"baselines": ["coarse", "train_mean"]})
    case = load_case(write_case(tmp_path, raw))
    data, _, _ = load_or_generate(case)
    test = select_split(data, "test")
    times = test["time"].values[2:]
    pred = case.problem.baselines()["coarse"].run(case.problem, torch.zeros(1, 1, 16, 16), grid_from_dataset(test),
                                                  0.1, times)
    expected = to_tensor(test, ["u"])[:, 2:].double()
    assert pred.shape == expected.shape and torch.allclose(pred.double(), expected, atol=1e-5)  # band-limited
    summary = train_case(case, run_dir=tmp_path / "run", device="cpu", rollout=False)
    rows = {r["method"]: r for r in compare_run(summary.run_dir).rows}
    assert rows["coarse"]["rel_l2"] < 1e-5 < rows["train_mean"]["rel_l2"]


def test_cli_inspect_train_rollout_on_a_finer_file_and_convert(tmp_path):
    well = od.write_the_well(tmp_path / "w.hdf5", od.fields(n=10))
    shown = runner.invoke(app, ["inspect", str(well)])
    assert shown.exit_code == 0, shown.output
    for text in ("the_well", "velocity_x", "stress_yx", "periodic", "name: dataset"):
        assert text in shown.output
    case_file = tmp_path / "well.yaml"
    written = runner.invoke(app, ["inspect", str(well), "--case-out", str(case_file)])
    assert written.exit_code == 0 and "guessed" in case_file.read_text()
    case = yaml.safe_load(case_file.read_text())
    assert case["problem"]["periodic"] == ["x", "y"] and case["data"] == {"n_train": 8, "n_val": 1, "n_test": 1,
                                                                          "seed": 0}
    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", str(case_file), "--run-dir", str(run), "--set", "train.epochs=1",
                                  "--set", "problem.inputs=[u]", "--set", "backend.width=8",
                                  "--set", "backend.window=1", "--set", f"output.runs_dir={tmp_path}"])
    assert trained.exit_code == 0, trained.output
    finer = od.write_the_well(tmp_path / "fine.hdf5", od.fields(seed=5, n=3, nx=16, ny=16))
    zero_shot = runner.invoke(app, ["rollout", str(run), "--data", str(finer)])
    assert zero_shot.exit_code == 0, zero_shot.output
    roll = read_netcdf(run / "rollout_fine.nc")
    assert roll.sizes["x"] == 16 and roll.sizes["sample"] == 3 and (run / "rollout.nc").is_file()
    out = tmp_path / "w.nc"
    converted = runner.invoke(app, ["convert", str(well), "--out", str(out)])
    assert converted.exit_code == 0, converted.output
    back = read_netcdf(out)
    assert np.array_equal(back["velocity_y"].values, od.fields(n=10)["v"])
    assert grid_from_dataset(back).periodic and back.attrs["source_format"] == "the_well"
    assert back.attrs["Conventions"] == "CF-1.10" and back.attrs["dataset_name"] == "test_well"


def _fails(args, *words):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, line
    for w in words:
        assert w in line, line
    return line


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    f = od.fields()
    good = od.write_netcdf(tmp_path / "a.nc", f)
    runs = tmp_path / "runs"

    def train(problem, *sets, backend=None):
        case = write_case(tmp_path, _case(problem.pop("path", good), problem, backend))
        return ["train", str(case), "--set", f"output.runs_dir={runs}", *[a for s in sets for a in ("--set", s)]]

    _fails(train({"task": "map", "inputs": ["nope"], "outputs": ["sol"]}), "a.nc", "problem.inputs",
           "no variable 'nope'", "u, v, coeff, sol")
    mixed = xr.Dataset({"coeff": (("sample", "x", "y"), f["coeff"]),
                        "sol": (("sample", "lon", "lat"), np.zeros((6, 16, 16), np.float32))})
    mixed.to_netcdf(tmp_path / "mixed.nc")
    _fails(train({"path": tmp_path / "mixed.nc", "task": "map", "inputs": ["coeff"], "outputs": ["sol"]}),
           "mixed.nc", "sol", "on another grid", "'coeff' grid")
    stretched = xr.Dataset({"u": (("sample", "t", "x"), f["u"][:, :, :, 0])},
                           coords={"x": np.cumsum(np.linspace(1, 3, 8)), "t": np.arange(5) * 0.1})
    stretched.to_netcdf(tmp_path / "stretched.nc")
    _fails(train({"path": tmp_path / "stretched.nc", "task": "trajectory", "inputs": ["u"]}), "backend 'fno'",
           "equally spaced", "axis x")
    lsm = {"name": "lsm", "width": 8, "heads": 4, "projection_channels": 8, "patch_size": [1]}
    assert load_case(write_case(tmp_path, _case(tmp_path / "stretched.nc", {"task": "trajectory", "inputs": ["u"]},
                                                lsm))).problem.solver_grid.axes[0].points is not None
    uneven = xr.Dataset({"u": (("sample", "time", "x"), f["u"][:, :, :, 0])},
                        coords={"time": [0.0, 0.1, 0.3, 0.4, 0.9], "x": np.arange(8) / 8})
    uneven.to_netcdf(tmp_path / "uneven.nc")
    _fails(train({"path": tmp_path / "uneven.nc", "task": "trajectory", "inputs": ["u"]}), "uneven.nc",
           "time steps are not equal")
    xr.Dataset({"u": (("sample", "foo", "x"), np.zeros((6, 3, 4)))}).to_netcdf(tmp_path / "foo.nc")
    _fails(train({"path": tmp_path / "foo.nc", "task": "trajectory", "inputs": ["u"]}), "foo.nc",
           "dimension 'foo' of variable 'u' cannot be told", "problem.dims")
    _fails(train({"task": "map", "inputs": ["coeff"], "outputs": ["sol"]}, "data.n_train=64"), "a.nc",
           "64 + 1 + 1 = 66 samples; the file has 6")
    xr.Dataset(attrs={"title": "nothing"}).to_netcdf(tmp_path / "empty.nc")
    _fails(train({"path": tmp_path / "empty.nc", "task": "map", "inputs": ["a"], "outputs": ["b"]}), "empty.nc",
           "empty")
    (tmp_path / "x.dat").write_bytes(b"\x01" * 32)
    _fails(["inspect", str(tmp_path / "x.dat")], "x.dat", "cannot tell the format")
    _fails(["inspect", str(good), "--format", "grib"], "unknown format 'grib'")
    torch.save({"u": torch.zeros(2, 3), "meta": {"a": 1}}, tmp_path / "mixed.pt")
    _fails(["inspect", str(tmp_path / "mixed.pt")], "mixed.pt", "entry 'meta' is a dict; expected only tensors")
    _fails(["convert", str(tmp_path / "foo.nc"), "--out", str(tmp_path / "out.nc")], "foo.nc", "nothing to convert")
    assert not runs.exists() and not (tmp_path / "out.nc").exists()
    # NaN: found by the training pass, before any checkpoint
    bad = f["u"].copy()
    bad[2, 1, 3, 3] = np.nan
    od.write_netcdf(tmp_path / "nan.nc", {**f, "u": bad})
    line = _fails(train({"path": tmp_path / "nan.nc", "task": "trajectory", "inputs": ["u"]}, "data.seed=0"),
                  "nan.nc", "variable 'u' has 1 NaN/inf value(s)", "sample 2 of the file")
    assert not list(runs.glob("*/checkpoint.pt")), line
    summary = json.dumps(line)
    assert "Traceback" not in summary
