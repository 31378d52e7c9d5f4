"""``dataset``: a problem whose samples are a user's file instead of a generator's output.

A case names the file and what to learn from it::

    problem:
      name: dataset
      path: ~/sims/darcy.nc        # a file, a folder of files, or {train: a.h5, val: b.h5, test: c.h5}
      format: auto                 # auto | netcdf | zarr | the_well | pdebench | npz | pt
      task: map                    # map (inputs -> outputs) | trajectory (a state in time)
      inputs: [coeff]              # map: input variables; trajectory: the state variables
      outputs: [sol]               # map only
    data: {n_train: 1000, n_val: 50, n_test: 200, seed: 0}

The file is opened lazily (`pdesolve.data.sources`) when the case is loaded, so a missing
variable, grids that disagree or a dimension that cannot be told fail before any work. `load`
returns the samples with their splits: the file's own (``train/ valid/ test/`` folders, a
``{train, val, test}`` mapping, pdesolve's ``split`` flags), of which the first ``n_train``,
``n_val``, ``n_test`` are used; or, for one file without splits, a split drawn by ``data.seed``.
There is no reference solver: `compare` judges models against the file's own reference and the
baselines ``persistence`` (the last input state), ``train_mean`` (the training mean) and, when the
case names a variable that holds the same field on another grid (``coarse``), that coarse-grid
data brought to the model's grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import xarray as xr
from pydantic import Field, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.data.samples import SPLITS, select_split, split_variable
from pdesolve.data.sources import LayoutOptions, OpenedData, detect_format, open_source
from pdesolve.data.sources.arrays import ARRAY_FORMATS
from pdesolve.data.sources.layout import uniform_spacing
from pdesolve.data.streaming import FieldPairs, sample_blocks, scan
from pdesolve.data.tensors import grid_from_dataset
from pdesolve.errors import UserError
from pdesolve.problems.base import Baseline, Problem, ProblemParams


class DatasetParams(ProblemParams):
    """The ``problem`` section of a dataset case."""

    path: str | dict[str, str] = Field(description="a file, a folder of files, or {train: ..., val: ..., test: ...}")
    format: str = Field("auto", description="auto | netcdf | zarr | the_well | pdebench | npz | pt")
    task: Literal["map", "trajectory"] = Field(description="map: inputs -> outputs; trajectory: a state in time")
    inputs: list[str] = Field(min_length=1, description="map: input variables; trajectory: the state variables")
    outputs: list[str] = Field(default_factory=list, description="map: output variables (trajectory: none)")
    dims: dict[str, str] = Field(default_factory=dict, description="sample/time/x/y/z -> the file's dim name")
    coords: dict[str, str] = Field(default_factory=dict, description="x/y/z/time -> the file's coordinate variable")
    periodic: list[str] | None = Field(None, description="periodic axes (null: as the file says)")
    domain: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="axis -> [lower, upper] when the file has no coordinates")
    dt: float | None = Field(None, gt=0, description="time step when the file has no time coordinate")
    units: dict[str, str] = Field(default_factory=dict, description="variable or axis -> CF units (overrides the file)")
    layout: list[str] | dict[str, list[str]] | None = Field(
        None, description="npz/pt: axis order, e.g. [sample, x, y] (or one list per array)")
    coarse: dict[str, str] = Field(
        default_factory=dict, description="output -> a variable of the file holding it on a coarser grid (baseline)")

    @model_validator(mode="after")
    def _task_fields(self):
        if self.task == "map" and not self.outputs:
            raise ValueError("a map needs outputs (the variables to predict)")
        if self.task == "trajectory" and self.outputs and self.outputs != self.inputs:
            raise ValueError("a trajectory's outputs are its inputs (the state); leave outputs out")
        unknown = sorted(set(self.coarse) - set(self.outputs or self.inputs))
        if unknown:
            raise ValueError(f"coarse names {unknown}, which are not outputs")
        return self

    def layout_options(self, grid_variables: Sequence[str] = ()) -> LayoutOptions:
        layout = self.layout
        if isinstance(layout, dict):
            layout = {k: tuple(v) for k, v in layout.items()}
        elif layout is not None:
            layout = tuple(layout)
        return LayoutOptions(dims=dict(self.dims), coords=dict(self.coords),
                             periodic=tuple(self.periodic) if self.periodic is not None else None,
                             domain={k: (float(a), float(b)) for k, (a, b) in self.domain.items()}, dt=self.dt,
                             units=dict(self.units), layout=layout, grid_variables=tuple(grid_variables))


def _absolute(path: str | dict[str, str]) -> str | dict[str, str]:
    if isinstance(path, dict):
        return {k: str(Path(v).expanduser().absolute()) for k, v in path.items()}
    return str(Path(path).expanduser().absolute())


class DatasetProblem(Problem, name="dataset"):
    """A user's data file (see module docstring)."""

    Params = DatasetParams
    task = "map, trajectory"  # an instance's task is its params.task
    description = "your own data: netCDF, zarr, The Well, PDEBench, npz or pt files (no reference solver)"

    def __init__(self, params=None, *, source: str | None = None):
        super().__init__(params, source=source)
        p = self.params
        self.params = p = p.model_copy(update={"path": _absolute(p.path)})
        self.task = p.task
        self.inputs = tuple(p.inputs)
        self.outputs = tuple(p.outputs) if p.task == "map" else tuple(p.inputs)
        used = list(dict.fromkeys([*self.inputs, *self.outputs]))
        self.opened = open_source(p.path, p.format, p.layout_options(grid_variables=self.inputs))
        info = self.opened.info
        if p.layout is not None and info.format not in ARRAY_FORMATS:
            raise UserError(f"problem.layout applies to {' and '.join(ARRAY_FORMATS)} files, not {info.format}",
                            source=info.path, field="problem.layout")
        self.opened.require(self.inputs, "problem.inputs")
        self.opened.require(self.outputs, "problem.outputs")
        for name in used:
            timed = "time" in info.variables[name].dims
            if p.task == "trajectory" and not timed:
                raise UserError(f"variable '{name}' has no time axis (dims {info.variables[name].dims}); a "
                                "trajectory needs a state in time (use task: map)", source=info.path,
                                field="problem.inputs")
            if p.task == "map" and timed and info.variables[name].shape[1] != 1:
                raise UserError(f"variable '{name}' has {info.variables[name].shape[1]} time steps; a map takes "
                                "fields without a time axis (use task: trajectory)", source=info.path,
                                field="problem.inputs" if name in self.inputs else "problem.outputs")
        if p.task == "trajectory" and info.times is not None and not uniform_spacing(np.asarray(info.times)):
            raise UserError("the time steps are not equal; a model steps a fixed interval (resample in time)",
                            source=info.path, field="problem.task")
        self.fields = {n: FieldSpec(n, v.units, v.long_name or n, None) for n, v in info.variables.items()
                       if v.on_grid}
        self._loaded: xr.Dataset | None = None
        self._coarse: OpenedData | None = self._open_coarse() if p.coarse else None

    # ---------------------------------------------------------------- what engines read
    @property
    def solver_grid(self) -> Grid:
        """The file's grid (there is no solver: the data's own grid)."""
        return self.opened.info.grid

    @property
    def times(self) -> np.ndarray:
        """The file's time coordinate (trajectories), empty for maps."""
        return np.asarray(self.opened.info.times) if self.task == "trajectory" else np.zeros(0)

    def data_grid(self, resolution: int | Sequence[int] | None) -> Grid:
        """The file's grid, or an integer-stride subsampling of it (``data.resolution``)."""
        if resolution is None:
            return self.solver_grid
        grid = self.solver_grid.resized(resolution if isinstance(resolution, int) else tuple(resolution))
        self.solver_grid.strides_to(grid)
        return grid

    def baselines(self) -> dict[str, Baseline]:
        out: dict[str, Baseline] = {"train_mean": TrainMean()}
        if len(self.inputs) == len(self.outputs):
            out["persistence"] = Persistence()
        if self.params.coarse:
            out["coarse"] = CoarseData()
        return out

    def default_baselines(self) -> list[str]:
        """What ``compare`` runs unless the case says (there is no solver to run ``coarse`` with)."""
        return list(self.baselines())

    # ------------------------------------------------------------------------- samples
    def _selection(self, ds: xr.Dataset, resolution) -> xr.Dataset:
        names = list(dict.fromkeys([*self.inputs, *self.outputs]))
        ds = ds[names]
        if self.task == "map" and "time" in ds.dims:
            ds = ds.isel(time=0, drop=True)
        grid = self.data_grid(resolution)
        strides = self.solver_grid.strides_to(grid)
        if any(s != 1 for s in strides):  # the coordinates' attributes describe the subsampled grid too
            ds = ds.isel({a: slice(None, None, s) for a, s in zip(grid.names, strides, strict=True)})
        return ds

    def generate(self, n, seed, *, resolution=None, device="cpu", batch_size=32):
        """``n`` samples of the file in the order drawn by ``seed`` (the file has no generator)."""
        order = self._order(seed)
        if n > order.size:
            raise UserError(f"{n} samples asked for; the file has {order.size}", source=self.opened.info.path,
                            field="data")
        picked = order[:n]
        return self._with_index(self.opened.dataset, picked, resolution)

    def _order(self, seed: int) -> np.ndarray:
        return np.random.default_rng(seed).permutation(self.opened.info.n_samples)

    def _with_index(self, ds: xr.Dataset, index: np.ndarray, resolution) -> xr.Dataset:
        out = self._selection(ds, resolution).isel(sample=index)
        return out.assign_coords(sample_index=xr.Variable(("sample",), index.astype(np.int64), {
            "long_name": "index of the sample in the source file"}))

    def split_indices(self, n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
        """Indices into the file's samples of each split (see module docstring)."""
        info = self.opened.info
        wanted = dict(zip(SPLITS, (n_train, n_val, n_test), strict=True))
        fields = dict(zip(SPLITS, ("data.n_train", "data.n_val", "data.n_test"), strict=True))
        if info.splits:
            flags = np.asarray(self.opened.dataset["split"].values)
            out = {}
            for i, s in enumerate(SPLITS):
                have = np.flatnonzero(flags == i)
                if wanted[s] > have.size:
                    raise UserError(f"{wanted[s]} {s} samples asked for; the file's {s} split has {have.size}",
                                    source=info.path, field=fields[s])
                out[s] = have[:wanted[s]]
            return out
        total = n_train + n_val + n_test
        if total > info.n_samples:
            raise UserError(f"the split asks for {n_train} + {n_val} + {n_test} = {total} samples; the file has "
                            f"{info.n_samples}", source=info.path, field="data")
        order, out, start = self._order(seed), {}, 0
        for s in SPLITS:
            out[s] = np.sort(order[start:start + wanted[s]])
            start += wanted[s]
        return out

    def check_data(self, data) -> None:
        """The case's ``data`` section fits the file (split sizes, resolution): before any work."""
        self.split_indices(data.n_train, data.n_val, data.n_test, data.seed)
        self.data_grid(data.resolution)

    def load(self, n_train: int, n_val: int, n_test: int, seed: int, resolution=None) -> xr.Dataset:
        """The samples of each split, lazily, with ``split`` flags and ``sample_index`` (the index
        in the file); the test split is checked for NaN/inf (train and validation are checked by
        the training pass)."""
        parts = self.split_indices(n_train, n_val, n_test, seed)
        index = np.concatenate([parts[s] for s in SPLITS])
        flags = np.concatenate([np.full(parts[s].size, i, np.int8) for i, s in enumerate(SPLITS)])
        ds = self._with_index(self.opened.dataset, index, resolution)
        ds = ds.assign_coords(split=split_variable(flags))
        test = select_split(ds, "test")
        scan(FieldPairs(test, self.inputs, self.outputs, task=self.task), statistics=False, split="test")
        self._loaded = ds
        return ds

    def stored_data(self, n_train, n_val, n_test, seed, resolution=None) -> tuple[xr.Dataset, Path]:
        return self.load(n_train, n_val, n_test, seed, resolution), self.source_path()

    def source_path(self) -> Path:
        """The file (or folder) the samples come from; the train file of a mapping."""
        path = self.params.path
        return Path(path["train"] if isinstance(path, dict) else path)

    def evaluation_data(self) -> xr.Dataset:
        """Every sample to evaluate on -- the file's test split where it has splits, else all of it
        -- as a test split (``pdesolve rollout RUN --data FILE``)."""
        info = self.opened.info
        n = info.splits.get("test", 0) if info.splits else info.n_samples
        if n == 0:
            raise UserError("the file's test split is empty", source=info.path)
        return self.load(0, 0, n, 0)

    # ------------------------------------------------------------------------ baselines
    def _loaded_split(self, name: str) -> xr.Dataset:
        if self._loaded is None:
            raise UserError("the dataset's samples are not loaded (call load first)")
        return select_split(self._loaded, name)

    def training_mean(self, grid: Grid) -> torch.Tensor:
        """Mean of the outputs over the training samples (and steps), per point: ``(c, *grid.shape)``."""
        train = self._loaded_split("train")
        if grid_from_dataset(train) != grid:
            raise UserError("the training mean is taken on the data's grid, not another one")
        means = []
        for name in self.outputs:
            var, total, count = train[name].variable, 0.0, 0
            for i in range(train.sizes["sample"]):
                for block in sample_blocks(var, i):
                    values = block.astype(np.float64)
                    total = total + (values.sum(axis=0) if "time" in var.dims else values)
                    count += values.shape[0] if "time" in var.dims else 1
            means.append(total / max(count, 1))
        return torch.as_tensor(np.stack(means))

    def _open_coarse(self) -> OpenedData:
        """The ``coarse`` variables, opened with their own grid."""
        p, info = self.params, self.opened.info
        names = list(p.coarse.values())
        missing = [n for n in names if n not in info.variables]
        if missing:
            raise UserError(f"no variable {missing} (the file has: {', '.join(info.variables)})", source=info.path,
                            field="problem.coarse")
        main = {file_dim: role for role, file_dim in info.dims.items() if role in ("sample", "time")}
        spatial = iter("xyz")
        dims = {main[d] if d in main else next(spatial): d for d in info.variables[names[0]].dims}
        options = replace(p.layout_options(grid_variables=names), dims={**p.dims, **dims}, coords={})
        coarse = open_source(p.path, p.format, options)
        coarse.require(names, "problem.coarse")
        return coarse

    def coarse_prediction(self, grid: Grid, times: Sequence[float]) -> torch.Tensor:
        """The coarse variables of the loaded test samples at ``times`` (trajectories), on ``grid``:
        ``(n, T, c, *grid.shape)`` (maps: ``(n, c, *grid.shape)``)."""
        test = self._loaded_split("test")
        index = test["sample_index"].values
        ds = self._coarse.dataset
        names = [self.params.coarse[n] for n in self.outputs]
        if self.task == "trajectory":
            ds = ds.sel(time=np.asarray(times), method="nearest", tolerance=1e-6 * max(1.0, float(np.max(times))))
        elif "time" in ds.dims:
            ds = ds.isel(time=0, drop=True)
        values = np.stack([np.asarray(ds[n].values[index]) for n in names], axis=2 if self.task == "trajectory"
                          else 1)
        return resample(torch.as_tensor(values, dtype=torch.float64), grid_from_dataset(ds), grid)


def resample(u: torch.Tensor, source: Grid, target: Grid) -> torch.Tensor:
    """``u`` (``(..., *source.shape)``) on ``target`` (the same domain): Fourier interpolation on
    periodic axes, linear interpolation on the others, striding where ``target`` subsamples."""
    from scipy.interpolate import interp1d

    nd = source.ndim
    for k, (a, b) in enumerate(zip(source.axes, target.axes, strict=True)):
        axis = u.ndim - nd + k
        if a.size == b.size:
            continue
        if a.size > b.size and a.equally_spaced and _strides(a, b.size):
            u = u.index_select(axis, torch.arange(0, a.size, a.stride_to(b.size)))
        elif a.periodic and b.periodic:
            spec = torch.fft.rfft(u, dim=axis)
            keep = min(a.size, b.size) // 2 + 1
            spec = spec.narrow(axis, 0, keep)
            if b.size > a.size and a.size % 2 == 0:  # split the coarse Nyquist mode between +-k
                nyq = spec.narrow(axis, keep - 1, 1)
                spec = torch.cat([spec.narrow(axis, 0, keep - 1), nyq / 2], dim=axis)
            u = torch.fft.irfft(spec, n=b.size, dim=axis) * (b.size / a.size)
        else:
            f = interp1d(a.coords(), u.numpy(), axis=axis, fill_value="extrapolate", assume_sorted=True)
            u = torch.as_tensor(f(b.coords()))
    return u


def _strides(axis, size: int) -> bool:
    try:
        axis.stride_to(size)
    except UserError:
        return False
    return True


class Persistence(Baseline):
    """The last input state, held: no change (maps: the inputs as the outputs)."""

    name = "persistence"
    description = "the last input state, unchanged (no model)"

    def run(self, problem, inputs, grid, t0, times):
        if problem.task == "trajectory":
            return inputs[:, None].expand(inputs.shape[0], len(times), *inputs.shape[1:]).clone()
        return inputs.clone()


class TrainMean(Baseline):
    """The mean of the training outputs at every point (the best constant prediction in L2)."""

    name = "train_mean"
    description = "mean of the training data at every point"

    def run(self, problem, inputs, grid, t0, times):
        mean = problem.training_mean(grid).to(inputs.device, inputs.dtype)
        n = inputs.shape[0]
        if problem.task == "trajectory":
            return mean.expand(n, len(times), *mean.shape).clone()
        return mean.expand(n, *mean.shape).clone()


class CoarseData(Baseline):
    """The file's coarse-grid data (``coarse``), brought to the model's grid."""

    name: ClassVar[str] = "coarse"
    description = "the file's coarse-grid data on the model's grid (Fourier / linear interpolation)"

    def run(self, problem, inputs, grid, t0, times):
        return problem.coarse_prediction(grid, times).to(inputs.device, inputs.dtype)


def evaluation_data(problem: Problem, solver, path: str | Path) -> tuple[xr.Dataset, Path]:
    """The test samples of another file for a trained operator (``pdesolve rollout RUN --data FILE``):
    the file's test split where it has splits, else every sample, with the run's variables and
    layout options (``layout`` only for array files) -- e.g. the same flow on a finer grid
    (zero-shot super-resolution).

    Raises:
        UserError: not an operator run, a variable missing, a grid the backend cannot use.
    """
    if solver.kind != "operator" or problem.task not in ("map", "trajectory"):
        raise UserError(f"--data applies to operator backends on map or trajectory problems, not {solver.kind} "
                        f"backends on {problem.task} problems", source="--data")
    path = str(Path(path).expanduser())
    if isinstance(problem, DatasetProblem):
        fmt = detect_format(Path(path))
        update = {"path": path, "format": fmt, "coarse": {}}
        if fmt not in ARRAY_FORMATS:
            update["layout"] = None
        params = problem.params.model_copy(update=update)
    else:
        params = DatasetParams(path=path, task=problem.task, inputs=list(problem.inputs),
                               outputs=list(problem.outputs) if problem.task == "map" else [])
    other = DatasetProblem(params, source="--data")
    test = select_split(other.evaluation_data(), "test")
    type(solver).check_grid(grid_from_dataset(test), solver.options)
    return test, other.source_path()
