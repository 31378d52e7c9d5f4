"""Field backends (GP spectral, PINN, INSR) on ``field`` problems: one PDE instance solved by fitting
a representation.

Rollout: the solution on the test grid beside the reference (every step for time-dependent
problems, at most ``steps`` after ``t = 0``), the relative L2 error per step where the reference
is known (a NaN or zero reference gives NaN, never a huge ratio), and the problem's own metrics
(`EvolutionProblem.evaluate`: energy loss, peak height, area ratios, ...). Compare: the model and
the problem's classical baselines (finite differences; grid solvers at matched memory) sampled on
the same grid, judged by the same metrics, with the values each method stores and its wall time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from pdesolve.data.grid import Grid
from pdesolve.data.samples import select_split
from pdesolve.data.tensors import grid_from_dataset, to_dataset, to_tensor
from pdesolve.engines import figures
from pdesolve.engines.evaluation import Artifact, ComparisonResult, Evaluation, RolloutResult
from pdesolve.engines.evaluations.grid_operators import ERROR_SPEC, reference_spec
from pdesolve.engines.evaluations.verdict import baseline_verdict

PROBLEM_METRIC = "the problem's own metric (docs/problems/), at the last predicted time"


def check_reference(test: xr.Dataset, names: Sequence[str]) -> None:
    """Raise ``ValueError`` when a reference field the evaluation judges by is NaN somewhere, or
    identically zero at a time ``t > 0`` (nothing to be relative to: a missing reference, not a
    solution)."""
    for name in names:
        values = test[name]
        if not np.isfinite(values.values).all():
            raise ValueError(f"the reference of '{name}' holds non-finite values")
        if "time" in values.dims:
            later = values.where(values["time"] > 0, drop=True)
            if later.sizes.get("time", 0) and not (abs(later) > 0).any(set(later.dims) - {"time"}).all():
                raise ValueError(f"the reference of '{name}' is identically zero at some time t > 0")


def _ratio(pred: torch.Tensor, ref: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """``||pred - ref|| / ||ref||`` over ``dims``; NaN where the reference is not finite or is zero
    (nothing to be relative to)."""
    norm = ref.pow(2).sum(dims).sqrt()
    err = (pred - ref).pow(2).sum(dims).sqrt() / norm
    return torch.where(torch.isfinite(norm) & (norm > 0), err, torch.full_like(err, float("nan")))


class FieldEvaluation(Evaluation, kind="field", task="field"):
    """See the module docstring."""

    headline = {"rollout_rel_l2": "rel. L2 (rollout.nc)", "final_step_rel_l2": "final-step rel. L2",
                "steps": "time steps"}

    def summary_rows(self, metrics):
        rows = super().summary_rows(metrics)
        return rows + [(k.replace("_", " "), v) for k, v in metrics.items()
                       if k not in self.headline and k not in ("seconds_per_sample", "stopped")]

    @property
    def outputs(self) -> list[str]:
        return list(self.solver.setup["outputs"])

    def _reference(self, ds: xr.Dataset, test: xr.Dataset) -> xr.Dataset:
        """The test data at the times of ``ds`` (NaN where the data has no such time)."""
        names = self.outputs
        if "time" in ds.dims:
            return test[names].reindex(time=ds["time"], method="nearest", tolerance=1e-9)
        return test[names]

    def _errors(self, ds: xr.Dataset, test: xr.Dataset) -> torch.Tensor:
        """Relative L2 ``(n, T)`` (or ``(n,)``) of ``ds`` against the test data."""
        names = self.outputs
        pred = to_tensor(ds, names, dtype=torch.float64)
        ref = to_tensor(self._reference(ds, test), names, dtype=torch.float64)
        dims = tuple(range(2 if "time" in ds.dims else 1, pred.ndim))
        return _ratio(pred, ref, dims)

    def _problem_metrics(self, ds: xr.Dataset, test: xr.Dataset) -> dict[str, float]:
        evaluate = getattr(self.problem, "evaluate", None)
        return evaluate(ds, test) if evaluate is not None else {}

    # ------------------------------------------------------------------------- rollout
    def rollout(self, test: xr.Dataset, steps: int | None) -> RolloutResult:
        problem, names = self.problem, self.outputs
        t0 = time.perf_counter()
        ds = self.solver.solve(problem, test)
        seconds = time.perf_counter() - t0
        check_reference(test, names)
        timed = "time" in ds.dims
        if timed and steps is not None:
            ds = ds.isel(time=slice(0, steps + 1))
        reference = self._reference(ds, test)
        for n in names:
            ds[f"{n}_reference"] = xr.Variable(reference[n].dims, reference[n].values,
                                               reference_spec(problem.fields[n]).attrs())
        err = self._errors(ds, test)
        known = torch.isfinite(err)
        metrics: dict = {"steps": int(ds.sizes["time"] - 1) if timed else 1}
        if known.any():
            metrics["rollout_rel_l2"] = float(err[known].mean())
            last = err[..., -1] if timed else err
            metrics["final_step_rel_l2"] = float(last.mean())
        metrics.update(self._problem_metrics(ds, test))
        metrics.update({"seconds_per_sample": seconds / max(test.sizes.get("sample", 1), 1), "stopped": None})
        ds[ERROR_SPEC.name] = xr.Variable(("sample", "time")[:err.ndim], err.numpy().astype(np.float32),
                                          ERROR_SPEC.attrs())
        grid = grid_from_dataset(test)
        name = names[0]
        pred = to_tensor(ds, [name], dtype=torch.float64)[:, :, 0] if timed else to_tensor(ds, [name])
        ref = to_tensor(reference, [name], dtype=torch.float64)[:, :, 0] if timed else to_tensor(reference, [name])
        if timed:
            args = (ref[0].numpy(), pred[0].numpy(), ds["time"].values, err.nanmean(0).numpy())
        else:
            args = (ref[:1, 0].numpy(), pred[:1, 0].numpy(), np.zeros(1), err[:1].numpy())
        title = f"{self.resolved.name} ({self.solver.name})"
        artifact = Artifact("rollout.png", lambda p: figures.rollout_figure(
            *args, p, name=name, title=title, spec=problem.fields[name], grid=grid))
        return RolloutResult(ds, metrics, [artifact])

    # ------------------------------------------------------------------------- compare
    def compare(self, baselines: list[str], models: Sequence) -> ComparisonResult:
        problem, names = self.problem, self.outputs
        test = select_split(self.context.data, "test").isel(sample=[0])
        check_reference(test, names)
        grid = grid_from_dataset(test)
        times = getattr(problem, "times", None)
        timed = "time" in test.dims
        predictions: dict[str, tuple[xr.Dataset, float, int | None]] = {}
        t0 = time.perf_counter()
        solved = self.solver.solve(problem, test)
        stored = getattr(self.solver, "parameters_per_step", self.solver.n_parameters)()
        predictions[self.solver.label] = (solved, time.perf_counter() - t0, stored)
        available = problem.baselines()
        for b in baselines:
            method = available[b]
            t0 = time.perf_counter()
            out = method.run(problem, None, grid, 0.0, times if timed else ())
            seconds = time.perf_counter() - t0
            predictions[b] = (self._as_dataset(out, grid, times if timed else None), seconds,
                              getattr(method, "stored_values", None))
        rows, curves = [], {}
        stats = xr.Dataset()
        for name, (ds, seconds, values) in predictions.items():
            err = self._errors(ds, test)[0]
            row = {"method": name}
            known = torch.isfinite(err)
            if known.any():
                row["rel_l2"] = float(err[known].mean())
                row["final_rel_l2"] = float(err[-1]) if err.ndim else float(err)
            row.update(self._problem_metrics(ds, test))
            row["stored_values"] = values if values is not None else float("nan")
            row["seconds"] = seconds
            rows.append(row)
            if err.ndim:
                curves[name] = (ds["time"].values, err.numpy())
                stats[f"error_{name}"] = xr.Variable(("time",), err.numpy(), {
                    "units": "1", "long_name": f"relative L2 error of {name} against the reference"})
            else:
                stats[f"error_{name}"] = xr.Variable((), float(err), {
                    "units": "1", "long_name": f"relative L2 error of {name} against the reference"})
        if curves:
            stats = stats.assign_coords(time=xr.Variable(("time",), next(iter(curves.values()))[0],
                                                         {"units": "1", "long_name": "time"}))
        legend = {
            "method": "the model (backend name), then the classical baselines",
            "rel_l2": "relative L2 error against the reference, mean over the steps where it is known "
                      "(lower is better; docs/metrics.md)",
            "final_rel_l2": "relative L2 error at the last step (lower is better)",
            "stored_values": "values the method stores for one state: network weights, or grid values "
                             "(matched memory means equal counts)",
            "seconds": "wall time to produce the whole solution on this machine (the model: evaluation of the "
                       "fitted representation, not its training)",
        }
        legend.update({k: PROBLEM_METRIC for row in rows for k in row if k not in legend})
        artifacts = []
        if curves:
            artifacts.append(Artifact("error_vs_time.png", lambda p: figures.error_curves(
                curves, p, title=f"{self.resolved.name}: error against the reference")))
        field = names[0]
        last = {"reference": self._reference(solved, test)[field].values[0]}
        last.update({n: ds[field].values[0] for n, (ds, _, _) in predictions.items()})
        if timed:
            last = {n: v[-1] for n, v in last.items()}
        artifacts.append(Artifact("fields.png", lambda p: figures.field_panels(
            last, p, title=f"{field}, last step", spec=problem.fields[field], grid=grid)))
        description = (f"One instance of {problem.name} on a {' x '.join(map(str, grid.shape))} evaluation grid; "
                       f"hardware: {self.context.hardware}. Every method is sampled on the same grid and judged "
                       f"against the reference data (the exact solution where the problem has one).")
        error_key = "rel_l2" if all("rel_l2" in r for r in rows) else None
        verdict = baseline_verdict(rows, self.solver.label, baselines, error_key, "seconds") if error_key else []
        return ComparisonResult(
            title=f"{self.resolved.name}: {self.solver.label} against {', '.join(baselines) or 'no baseline'}",
            description=description, rows=rows, legend=legend, statistics=stats, artifacts=artifacts,
            verdict=verdict)

    def _as_dataset(self, out: torch.Tensor, grid: Grid, times: np.ndarray | None) -> xr.Dataset:
        """A baseline's tensor (``(1, T, c, *s)`` or ``(1, c, *s)``) as a dataset of the outputs."""
        channel = 2 if times is not None else 1
        fields = {n: out.select(channel, i) for i, n in enumerate(self.outputs)}
        return to_dataset(fields, grid, {n: self.problem.fields[n] for n in self.outputs}, times=times,
                          dtype=np.float64)
