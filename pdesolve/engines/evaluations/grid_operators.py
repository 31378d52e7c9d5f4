"""Operator backends on grid problems: ``map`` (fields -> fields) and ``trajectory`` (autoregressive
stepping of a state).

Rollout: the prediction for every test sample beside the reference and the relative L2 error per
sample (and step). Compare: the model, other runs' models (``--model``) and the problem's classical
baselines (`pdesolve.problems.base.Baseline`: the reference solver on the model's grid, LES, ...),
all started from the same test inputs and judged against the reference data on the model's grid;
problems with a statistics suite (`pdesolve.engines.statistics_suites`: periodic turbulence, the
channel) add its statistics. Baselines start from `GridProblem.physical_state` of the stored test
frame and their outputs are stored back with `GridProblem.stored_fields` (the channel stores
fluctuations about a mean profile). A dataset's ``reference_label`` attribute (e.g. a stand-in for
filtered DNS) is part of every title.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.data.tensors import grid_from_dataset, to_dataset, to_tensor
from pdesolve.engines import figures
from pdesolve.engines.evaluation import Artifact, ComparisonResult, Evaluation, RolloutResult
from pdesolve.engines.evaluations.verdict import baseline_verdict
from pdesolve.engines.rollout import predict_trajectory
from pdesolve.engines.statistics_suites import suite_for
from pdesolve.metrics import energy_spectrum, relative_l2, spectrum_log_error

ERROR_SPEC = FieldSpec("rel_l2_error", "1", "relative L2 error of the prediction (per sample)")


def reference_spec(spec: FieldSpec) -> FieldSpec:
    """The metadata of a field's reference copy in an output file."""
    return FieldSpec(f"{spec.name}_reference", spec.units, f"reference {spec.long_name}", spec.standard_name)


@dataclass
class MethodPrediction:
    """One method's predictions ``(n, steps, c, *s)`` (steps = 1 for maps) and its wall time [s]."""

    name: str
    prediction: torch.Tensor
    seconds: float


def _timed(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


class GridOperatorEvaluation(Evaluation):
    """What the map and trajectory evaluations share: the output dataset and the comparison table."""

    takes_models = True

    @property
    def outputs(self) -> list[str]:
        return list(self.solver.setup["outputs"])

    @property
    def title(self) -> str:
        """The case's name, with the data's ``reference_label`` (what the reference is) where it has one."""
        label = self.context.data.attrs.get("reference_label")
        return f"{self.resolved.name} [reference: {label}]" if label else self.resolved.name

    def output_dataset(self, prediction: torch.Tensor, reference: torch.Tensor, grid: Grid,
                       times: np.ndarray | None) -> xr.Dataset:
        """Prediction and reference fields ``(n, [T,] c, *s)`` as one dataset (CF metadata)."""
        names, specs = self.outputs, self.problem.fields
        channel = 2 if times is not None else 1
        fields = {n: prediction.select(channel, i) for i, n in enumerate(names)}
        fields.update({f"{n}_reference": reference.select(channel, i) for i, n in enumerate(names)})
        specs = {**specs, **{f"{n}_reference": reference_spec(specs[n]) for n in names}}
        return to_dataset(fields, grid, specs, times=times)

    def score_methods(self, results: list[MethodPrediction], reference: torch.Tensor, grid: Grid,
                      times: np.ndarray, unit: str, per: float) -> ComparisonResult:
        """The table, statistics and figures of ``results`` against ``reference`` ``(n, T, c, *s)``."""
        problem, resolved = self.problem, self.resolved
        rows, curves, spectra_curves = [], {}, {}
        stats = xr.Dataset()
        stats = stats.assign_coords(time=xr.Variable(("time",), np.asarray(times, float),
                                                     {"units": "1", "long_name": "time"}))
        k_ref, e_ref = energy_spectrum(reference[:, -1], grid.ndim, grid.lengths)
        if grid.periodic:
            spectra_curves["reference"] = (k_ref.numpy(), e_ref.numpy())
            stats = stats.assign_coords(wavenumber=xr.Variable(("wavenumber",), k_ref.numpy(), {
                "units": "1", "long_name": "wavenumber |k| in units of 2 pi / L (integer shells)"}))
            stats["spectrum_reference"] = xr.Variable(("wavenumber",), e_ref.numpy(), {
                "units": "1", "long_name": "final-step reference energy spectrum"})
        for r in results:
            m = r.prediction.shape[1]
            per_step = torch.stack([relative_l2(r.prediction[:, s], reference[:, s]) for s in range(m)], 1).mean(0)
            row = {"method": r.name, "rel_l2": float(relative_l2(r.prediction, reference[:, :m]).mean()),
                   "final_rel_l2": float(per_step[-1])}
            padded = np.full(len(times), np.nan)
            padded[:m] = per_step.numpy()
            stats[f"error_{r.name}"] = xr.Variable(("time",), padded, {
                "units": "1", "long_name": f"relative L2 error of {r.name}"})
            if grid.periodic:
                _, e = energy_spectrum(r.prediction[:, -1], grid.ndim, grid.lengths)
                row["spectrum_log_err"] = spectrum_log_error(e, e_ref)
                spectra_curves[r.name] = (k_ref.numpy(), e.numpy())
                stats[f"spectrum_{r.name}"] = xr.Variable(("wavenumber",), e.numpy(), {
                    "units": "1", "long_name": f"final-step energy spectrum of {r.name}"})
            row[unit] = r.seconds / per
            rows.append(row)
            curves[r.name] = (times[:m], per_step.numpy())
        legend = {
            "method": "the model (backend name), other models, then the classical baselines",
            "rel_l2": "relative L2 error against the reference over all predicted steps, mean over samples "
                      "(lower is better; docs/metrics.md `rollout_rel_l2`)",
            "final_rel_l2": "relative L2 error at the last step, mean over samples (lower is better)",
            "spectrum_log_err": "mean |log10 E - log10 E_ref| of the energy spectrum at the last step over the shells "
                                "the reference resolves (lower is better)",
            unit: "wall time of the method on this machine (lower is better)",
        }
        artifacts: list[Artifact] = []
        suite = suite_for(problem, self.context.data)
        flow = None
        if suite is not None:  # the problem family's statistics (spectra, PDFs, profiles, ...)
            flow = suite.compare(reference, {r.name: r.prediction for r in results}, grid, times)
            for row in rows:
                row.update(flow.row(row["method"]))
            stats = stats.merge(flow.dataset())
            legend.update(suite.legend)
        name = self.outputs[0]
        title = self.title
        if problem.task == "trajectory":
            artifacts.append(Artifact("error_vs_time.png", lambda p: figures.error_curves(
                curves, p, title=title)))
        if spectra_curves:
            artifacts.append(Artifact("spectra.png", lambda p: figures.spectra(
                spectra_curves, p, title=f"{title}: spectrum at the last step")))
        panels = {"reference": reference[0, -1, 0].numpy(),
                  **{r.name: r.prediction[0, -1, 0].numpy() for r in results}}
        artifacts.append(Artifact("fields.png", lambda p: figures.field_panels(
            panels, p, title=f"{title}: {name}, test sample 0, last step", spec=problem.fields[name], grid=grid)))
        if flow is not None:
            artifacts += flow.artifacts(title)
        labels = [r.name for r in results]
        models = labels[: len(labels) - len(self.baseline_names)]
        horizon = ""
        if problem.task == "trajectory":
            unroll = resolved.case.train.unroll
            horizon = (f" Rollout: {len(times)} steps from the test inputs, {len(times) / unroll:g}x the training "
                       f"horizon of {unroll} step(s).")
        return ComparisonResult(
            title=f"{title}: {', '.join(models)} against {', '.join(self.baseline_names) or 'no baseline'}",
            description=(f"Test samples: {reference.shape[0]}; grid {list(grid.shape)}; hardware: "
                         f"{self.context.hardware}. Errors are relative L2 against the reference data on the "
                         f"model's grid, mean over samples.{horizon}"),
            rows=rows, legend=legend, statistics=stats, artifacts=artifacts,
            verdict=[*baseline_verdict(rows, models[0], self.baseline_names, "rel_l2", unit),
                     *(flow.verdict(models[0], self.baseline_names) if flow is not None else [])],
            facts={"unit": unit})


class TrajectoryEvaluation(GridOperatorEvaluation, kind="operator", task="trajectory"):
    """Autoregressive rollouts from the first ``window`` frames of each test trajectory."""

    headline = {"rollout_rel_l2": "rollout rel. L2", "final_step_rel_l2": "final-step rel. L2",
                "steps": "rollout steps", "seconds_per_step": "s per step", "stopped": "rollout stopped"}

    def max_steps(self, test: xr.Dataset) -> int:
        """The test trajectories' frames after the first window."""
        return test.sizes["time"] - self.solver.window

    def rollout(self, test: xr.Dataset, steps: int | None) -> RolloutResult:
        solver, names = self.solver, self.outputs
        ref = to_tensor(test, names)
        k = solver.window
        available = ref.shape[1] - k
        n_steps = steps or self.resolved.case.rollout.steps or available
        limit = self.resolved.case.rollout.blowup_factor * float(ref.abs().max())
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
        ds = self.output_dataset(pred, reference, grid, times)
        ds[ERROR_SPEC.name] = xr.Variable(("sample", "time"), per_step.numpy().astype(np.float32),
                                          ERROR_SPEC.attrs())
        metrics = {
            "steps": done,
            "rollout_rel_l2": float(relative_l2(pred[:, :m], reference[:, :m]).mean()) if m else float("nan"),
            "final_step_rel_l2": float(per_step[:, m - 1].mean()) if m else float("nan"),
            "seconds_per_step": traj.seconds_per_step,
            "stopped": traj.stopped,
        }
        figure_args = (ref[0, k:k + m, 0].numpy(), pred[0, :m, 0].numpy(), times[:m], per_step[:, :m].mean(0).numpy())
        title = f"{self.title} ({solver.name}), test sample 0"
        artifact = Artifact("rollout.png", lambda p: figures.rollout_figure(
            *figure_args, p, name=names[0], title=title, spec=self.problem.fields[names[0]], grid=grid))
        return RolloutResult(ds, metrics, [artifact])

    def compare(self, baselines: list[str], models: Sequence) -> ComparisonResult:
        self.baseline_names = baselines
        problem, device = self.problem, self.context.device
        test = self.test_split()
        grid = grid_from_dataset(test)
        ref_all = to_tensor(test, self.outputs)
        k = self.solver.window
        steps = min(self.resolved.case.rollout.steps or ref_all.shape[1] - k, ref_all.shape[1] - k)
        reference = ref_all[:, k:k + steps]
        t = test["time"].values
        times = t[k:k + steps]
        results = []
        for model in (self.solver, *models):
            traj, sec = _timed(lambda m=model: predict_trajectory(
                m.predict, ref_all[:, k - m.window:k], steps, description=f"rollout {m.label}"))
            results.append(MethodPrediction(model.label, traj.frames, sec))
        # baselines run on the compare device, from the physical state of the stored frame
        start = problem.physical_state(ref_all[:, k - 1].double(), test).to(device)
        available = problem.baselines()
        for b in baselines:
            pred, sec = _timed(lambda b=b: available[b].run(problem, start, grid, float(t[k - 1]), times).cpu())
            results.append(MethodPrediction(b, problem.stored_fields(pred.double(), test).float(), sec))
        span = float(times[-1] - t[k - 1])
        return self.score_methods(results, reference, grid, times, "s per time unit per sample",
                                  span * ref_all.shape[0])

    def test_split(self) -> xr.Dataset:
        from pdesolve.data.samples import select_split

        return select_split(self.context.data, "test")


class MapEvaluation(GridOperatorEvaluation, kind="operator", task="map"):
    """One prediction per test sample (input fields -> output fields)."""

    headline = {"rollout_rel_l2": "test rel. L2 (rollout.nc)", "seconds_per_sample": "s per sample"}

    def rollout(self, test: xr.Dataset, steps: int | None) -> RolloutResult:
        solver, names = self.solver, self.outputs
        x = to_tensor(test, solver.setup["inputs"]).unsqueeze(1)
        ref = to_tensor(test, names)
        pred, seconds = _timed(lambda: solver.predict(x))
        err = relative_l2(pred, ref)
        grid = grid_from_dataset(test)
        ds = self.output_dataset(pred, ref, grid, None)
        ds[ERROR_SPEC.name] = xr.Variable(("sample",), err.numpy().astype(np.float32), ERROR_SPEC.attrs())
        metrics = {"steps": 1, "rollout_rel_l2": float(err.mean()), "final_step_rel_l2": float(err.mean()),
                   "seconds_per_sample": seconds / x.shape[0], "stopped": None}
        figure_args = (ref[:1, 0].numpy(), pred[:1, 0].numpy(), np.zeros(1), err[:1].numpy())
        title = f"{self.title} ({solver.name}), test sample 0"
        artifact = Artifact("rollout.png", lambda p: figures.rollout_figure(
            *figure_args, p, name=names[0], title=title, spec=self.problem.fields[names[0]], grid=grid))
        return RolloutResult(ds, metrics, [artifact])

    def compare(self, baselines: list[str], models: Sequence) -> ComparisonResult:
        from pdesolve.data.samples import select_split

        self.baseline_names = baselines
        problem = self.problem
        test = select_split(self.context.data, "test")
        grid = grid_from_dataset(test)
        x = to_tensor(test, self.solver.setup["inputs"])
        reference = to_tensor(test, self.outputs).unsqueeze(1)
        results = []
        for model in (self.solver, *models):
            pred, sec = _timed(lambda m=model: m.predict(x.unsqueeze(1)))
            results.append(MethodPrediction(model.label, pred.unsqueeze(1), sec))
        available = problem.baselines()
        for b in baselines:
            pred, sec = _timed(lambda b=b: available[b].run(problem, x.to(torch.float64), grid, 0.0, []).float())
            results.append(MethodPrediction(b, pred.unsqueeze(1), sec))
        return self.score_methods(results, reference, grid, np.zeros(1), "s per sample", float(x.shape[0]))
