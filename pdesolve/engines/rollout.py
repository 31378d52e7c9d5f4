"""Rollout: autoregressive prediction from the test initial conditions, with stability guards.

`rollout_run` writes ``rollout.nc`` holding, for every test sample, the prediction, the reference
and the relative L2 error per step, plus a figure. The loop stops early (keeping what it has) when
a prediction stops being finite or grows beyond ``blowup_factor`` times the largest reference value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from pdesolve.config import ResolvedCase
from pdesolve.data.fields import FieldSpec
from pdesolve.data.netcdf import write_netcdf
from pdesolve.data.samples import select_split
from pdesolve.data.tensors import grid_from_dataset, to_dataset, to_tensor
from pdesolve.engines import figures
from pdesolve.engines.data import load_or_generate
from pdesolve.engines.linear import linear_rollout
from pdesolve.engines.linear import rollout_figure as linear_rollout_figure
from pdesolve.engines.mesh_maps import mesh_map_figure, mesh_map_rollout
from pdesolve.engines.mesh_movement import mesh_panels_figure, mesh_rollout
from pdesolve.engines.runs import RunDir
from pdesolve.errors import UserError
from pdesolve.metrics import relative_l2
from pdesolve.nn.rollout import slide
from pdesolve.problems.dataset import evaluation_data
from pdesolve.progress import make_progress
from pdesolve.version import __version__


@dataclass
class Trajectory:
    """Predicted frames ``(n, steps, c, *s)``, why the loop stopped early (or ``None``), and the
    wall time per step in seconds."""

    frames: torch.Tensor
    stopped: str | None
    seconds_per_step: float


def predict_trajectory(step: Callable[[torch.Tensor], torch.Tensor], window: torch.Tensor, steps: int,
                       limit: float = float("inf"), description: str = "rollout") -> Trajectory:
    """Roll ``step`` (``(n, k, c, *s) -> (n, c, *s)``) forward ``steps`` times from ``window``.

    Stops before a frame that is non-finite or exceeds ``limit`` in absolute value.
    """
    frames, stopped = [], None
    t0 = time.perf_counter()
    with make_progress() as bar:
        task = bar.add_task(description, total=steps, status="")
        for i in range(steps):
            frame = step(window)
            if not torch.isfinite(frame).all():
                stopped = f"non-finite prediction at step {i + 1}"
                break
            if frame.abs().max() > limit:
                stopped = f"prediction exceeded {limit:.3g} at step {i + 1}"
                break
            frames.append(frame)
            window = slide(window, frame)
            bar.advance(task)
    seconds = (time.perf_counter() - t0) / max(len(frames), 1)
    if not frames:
        raise UserError(f"rollout produced no usable step ({stopped})")
    return Trajectory(torch.stack(frames, dim=1), stopped, seconds)


def reference_spec(spec: FieldSpec) -> FieldSpec:
    return FieldSpec(f"{spec.name}_reference", spec.units, f"reference {spec.long_name}", spec.standard_name)


ERROR_SPEC = FieldSpec("rel_l2_error", "1", "relative L2 error of the prediction (per sample)")


@dataclass
class RolloutResult:
    """A written rollout: the dataset, where it is, its figure and headline numbers."""

    dataset: xr.Dataset
    path: Path
    figure: Path | None
    metrics: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {**self.metrics, "path": str(self.path), "figure": str(self.figure) if self.figure else None}


def _trajectory_rollout(resolved: ResolvedCase, solver, test: xr.Dataset, steps: int | None):
    problem = resolved.problem
    names = list(solver.setup["outputs"])
    ref = to_tensor(test, names)
    k = solver.window
    available = ref.shape[1] - k
    n_steps = steps or resolved.case.rollout.steps or available
    limit = resolved.case.rollout.blowup_factor * float(ref.abs().max())
    traj = predict_trajectory(solver.predict, ref[:, :k], n_steps, limit)
    pred = traj.frames
    done = pred.shape[1]
    m = min(done, available)
    reference = torch.full_like(pred, float("nan"))
    reference[:, :m] = ref[:, k:k + m]
    per_step = torch.stack([relative_l2(pred[:, s], reference[:, s]) for s in range(done)], dim=1)
    t = test["time"].values
    dt = float(t[1] - t[0]) if len(t) > 1 else 1.0
    times = t[k - 1] + dt * np.arange(1, done + 1)
    grid = grid_from_dataset(test)
    fields = {n: pred[:, :, i] for i, n in enumerate(names)}
    fields.update({f"{n}_reference": reference[:, :, i] for i, n in enumerate(names)})
    specs = {**problem.fields, **{f"{n}_reference": reference_spec(problem.fields[n]) for n in names}}
    ds = to_dataset(fields, grid, specs, times=times)
    ds[ERROR_SPEC.name] = xr.Variable(("sample", "time"), per_step.numpy().astype(np.float32), ERROR_SPEC.attrs())
    metrics = {
        "steps": done,
        "rollout_rel_l2": float(relative_l2(pred[:, :m], reference[:, :m]).mean()) if m else float("nan"),
        "final_step_rel_l2": float(per_step[:, m - 1].mean()) if m else float("nan"),
        "seconds_per_step": traj.seconds_per_step,
        "stopped": traj.stopped,
    }
    fig_args = (ref[0, k:k + m, 0].numpy(), pred[0, :m, 0].numpy(), times[:m], per_step[:, :m].mean(0).numpy())
    return ds, metrics, fig_args, names[0]


def _map_rollout(resolved: ResolvedCase, solver, test: xr.Dataset, steps: int | None):
    problem = resolved.problem
    names = list(solver.setup["outputs"])
    x = to_tensor(test, solver.setup["inputs"]).unsqueeze(1)
    ref = to_tensor(test, names)
    t0 = time.perf_counter()
    pred = solver.predict(x)
    seconds = (time.perf_counter() - t0) / x.shape[0]
    err = relative_l2(pred, ref)
    grid = grid_from_dataset(test)
    fields = {n: pred[:, i] for i, n in enumerate(names)}
    fields.update({f"{n}_reference": ref[:, i] for i, n in enumerate(names)})
    specs = {**problem.fields, **{f"{n}_reference": reference_spec(problem.fields[n]) for n in names}}
    ds = to_dataset(fields, grid, specs)
    ds[ERROR_SPEC.name] = xr.Variable(("sample",), err.numpy().astype(np.float32), ERROR_SPEC.attrs())
    metrics = {"steps": 1, "rollout_rel_l2": float(err.mean()), "final_step_rel_l2": float(err.mean()),
               "seconds_per_sample": seconds, "stopped": None}
    fig_args = (ref[:1, 0].numpy(), pred[:1, 0].numpy(), np.zeros(1), err[:1].numpy())
    return ds, metrics, fig_args, names[0]


def _field_rollout(resolved: ResolvedCase, solver, test: xr.Dataset, steps: int | None):
    """Field solvers (one PDE instance): the solution on the test grid beside the reference.

    A time-dependent solution (a ``time`` axis) gives every step -- at most ``steps`` after
    ``t = 0`` -- with the error per step against the reference where the data holds one (NaN where
    it does not, e.g. without a closed-form solution)."""
    problem = resolved.problem
    names = list(solver.setup["outputs"])
    t0 = time.perf_counter()
    ds = solver.solve(problem, test)
    seconds = time.perf_counter() - t0
    timed = "time" in ds.dims
    if timed and steps is not None:
        ds = ds.isel(time=slice(0, steps + 1))
    reference = test[names].reindex(time=ds["time"], method="nearest", tolerance=1e-9) if timed else test[names]
    pred, ref = to_tensor(ds, names, dtype=torch.float64), to_tensor(reference, names, dtype=torch.float64)
    for n in names:
        ds[f"{n}_reference"] = xr.Variable(reference[n].dims, reference[n].values,
                                           reference_spec(problem.fields[n]).attrs())
    if timed:
        err = torch.stack([relative_l2(pred[:, s], ref[:, s]) for s in range(pred.shape[1])], dim=1)
        known = torch.isfinite(err).all(dim=0)
        times = ds["time"].values
        metrics = {"steps": pred.shape[1] - 1,
                   "rollout_rel_l2": float(err[:, known].mean()) if known.any() else float("nan"),
                   "final_step_rel_l2": float(err[:, -1].mean())}
        fig_args = (ref[0, :, 0].numpy(), pred[0, :, 0].numpy(), times, err.mean(0).numpy())
    else:
        err = relative_l2(pred, ref)
        metrics = {"steps": 1, "rollout_rel_l2": float(err.mean()), "final_step_rel_l2": float(err.mean())}
        fig_args = (ref[:1, 0].numpy(), pred[:1, 0].numpy(), np.zeros(1), err[:1].numpy())
    ds[ERROR_SPEC.name] = xr.Variable(("sample", "time")[:err.ndim], err.numpy().astype(np.float32),
                                      ERROR_SPEC.attrs())
    metrics.update({"seconds_per_sample": seconds / pred.shape[0], "stopped": None})
    return ds, metrics, fig_args, names[0]


ROLLOUTS = {("operator", "trajectory"): _trajectory_rollout, ("operator", "map"): _map_rollout,
            ("field", "field"): _field_rollout, ("linear", "linear"): linear_rollout,
            ("operator", "mesh_map"): mesh_map_rollout, ("mesh", "mesh"): mesh_rollout}
# figure makers taking a handler's fig_args; keys not listed use `figures.rollout_figure`
ROLLOUT_FIGURES = {("linear", "linear"): linear_rollout_figure, ("operator", "mesh_map"): mesh_map_figure,
                   ("mesh", "mesh"): mesh_panels_figure}


def rollout_run(run: RunDir | str | Path, *, steps: int | None = None, out: str | Path | None = None,
                device: torch.device | str = "cpu", resolution: int | None = None,
                data_file: str | Path | None = None) -> RolloutResult:
    """Roll the run's best model out on its test set and write ``rollout.nc`` (or ``out``).

    ``resolution``: field backends only -- sample the solution on the problem's grid with this
    many points per axis, against a reference generated on that grid, instead of the data grid.
    ``data_file``: operator backends -- predict on another file's test samples instead (e.g. a
    finer grid: zero-shot), see `pdesolve.problems.dataset.evaluation_data`; written to
    ``rollout_<file stem>.nc`` (and figure) unless ``out`` is given.
    """
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    resolved = run.load_case()
    solver = run.load_solver(device)
    key = (solver.kind, resolved.problem.task)
    if key not in ROLLOUTS:
        raise UserError(f"no rollout for {solver.kind} backends on {resolved.problem.task} problems")
    name = "rollout"
    if data_file is not None:
        test, data_path = evaluation_data(resolved.problem, solver, data_file)
        name = f"rollout_{Path(data_file).stem}"
    else:
        data, data_path, _ = load_or_generate(resolved)
        test = select_split(data, "test")
    if resolution is not None:
        if solver.kind != "field":
            raise UserError(f"--resolution applies to field backends, not {solver.kind} backends",
                            source="--resolution")
        test = resolved.problem.generate(test.sizes["sample"], resolved.case.data.seed, resolution=resolution)
    ds, metrics, fig_args, field_name = ROLLOUTS[key](resolved, solver, test, steps)
    ds.attrs.update({
        "Conventions": "CF-1.10 UGRID-1.0" if "mesh" in ds.variables else "CF-1.10",
        "title": f"{resolved.name}: {solver.name} rollout on the test set",
        "source": f"pdesolve {__version__}, backend {solver.name}",
        "run": str(run.path),
        "reference_data": str(data_path),
        "problem": resolved.problem.name,
        "backend": solver.name,
        **{k: v for k, v in metrics.items() if v is not None},
    })
    path = write_netcdf(ds, out or (run.rollout_file if data_file is None else run.path / f"{name}.nc"))
    figure = None
    if resolved.case.output.figures:
        make_figure = ROLLOUT_FIGURES.get(key, figures.rollout_figure)
        figure = make_figure(*fig_args, run.figures_dir / f"{name}.png", name=field_name,
                             title=f"{resolved.name} ({solver.name}), test sample 0")
    run.log(f"rollout: {metrics}")
    return RolloutResult(ds, path, figure, metrics)
