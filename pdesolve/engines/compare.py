"""``pdesolve compare``: a trained model against classical baselines, both judged against the
reference data on the model's grid, started from the same test inputs.

Writes ``compare/`` in the run (or ``out``): ``table.md`` and ``table.json`` (one row per
method), ``statistics.nc`` (error per step and energy spectra per method), and PNG figures.
For turbulent flows (`pdesolve.problems.turbulence.TurbulentFlow`) the table, the netCDF and the
figures add the statistics of `pdesolve.engines.turbulence_stats` (velocity spectra, increment and
vorticity PDFs, time series of u_rms, omega_rms, K and dissipation).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from pdesolve.data.netcdf import write_netcdf
from pdesolve.data.samples import select_split
from pdesolve.data.tensors import grid_from_dataset, to_tensor
from pdesolve.engines import figures
from pdesolve.engines.data import load_or_generate, recipe_of
from pdesolve.engines.device import describe
from pdesolve.engines.linear import TOLERANCES, histories_dataset, history_curves, run_methods, summary_row
from pdesolve.engines.mesh_maps import compare_mesh_map
from pdesolve.engines.mesh_movement import compare_mesh_movement
from pdesolve.engines.rollout import predict_trajectory
from pdesolve.engines.runs import RunDir
from pdesolve.engines.tables import markdown_table, write_tables
from pdesolve.engines.turbulence_stats import compare_turbulence
from pdesolve.errors import UserError
from pdesolve.metrics import energy_spectrum, relative_l2, spectrum_log_error
from pdesolve.problems.turbulence import TurbulentFlow
from pdesolve.version import __version__


@dataclass
class MethodResult:
    """One method's predictions ``(n, steps, c, *s)`` (steps = 1 for maps) and its wall time."""

    name: str
    prediction: torch.Tensor
    seconds: float


@dataclass
class Comparison:
    rows: list[dict]
    out_dir: Path
    files: list[Path]

    def table(self) -> str:
        return markdown_table(self.rows)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _compare_linear(run: RunDir, resolved, solver, names: list[str], out, device) -> Comparison:
    """Linear solvers: the model and each baseline on every test system, to relative residuals
    1e-4 and 1e-6; iterations, counts, setup and solve times, residual histories."""
    problem = resolved.problem
    data, _, _ = load_or_generate(resolved)
    test = select_split(data, "test")
    systems = problem.systems(test)
    rhs = problem.right_hand_sides(test, systems)
    available = problem.baselines()
    methods = [solver, *(available[b] for b in names)]
    reports = run_methods(methods, systems, rhs, rtol=TOLERANCES[-1], max_iter=solver.options.max_iter)
    rows = [summary_row(name, rs) for name, rs in reports.items()]
    hardware = describe(torch.device(device))
    out_dir = Path(out) if out else run.path / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (f"# {resolved.name}: {solver.name} against {', '.join(names) or 'no baseline'}\n\n"
              f"Test systems: {len(systems)} (unseen geometries), grid {list(systems[0].shape)}, "
              f"{np.mean([s.size for s in systems]):.0f} unknowns on average; cap {solver.options.max_iter} "
              f"iterations; hardware: {hardware} ({solver.name} on {solver.device}, baselines on the CPU).\n"
              f"Means over the systems that reached each relative residual; times in seconds.\n\n")
    files = write_tables(out_dir, header, rows, hardware=hardware)
    stats = histories_dataset(reports)
    stats.attrs.update({"Conventions": "CF-1.10", "title": f"{resolved.name} residual histories",
                        "source": f"pdesolve {__version__}", "hardware": hardware})
    files.append(write_netcdf(stats, out_dir / "statistics.nc"))
    if resolved.case.output.figures:
        files.append(figures.residual_histories(history_curves(reports), out_dir / "residual_history.png",
                                                title=f"{resolved.name}: test systems",
                                                tolerances=TOLERANCES))
    run.log(f"compare: {json.dumps(rows)}")
    return Comparison(rows, out_dir, files)


def _compare_mesh_map(run: RunDir, resolved, solver, names: list[str], out, device) -> Comparison:
    """Geometry -> fields on per-sample meshes: the model and each baseline on the test meshes."""
    rows, header, stats = compare_mesh_map(resolved, solver, names, device)
    out_dir = Path(out) if out else run.path / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [*write_tables(out_dir, header, rows, hardware=stats.attrs["hardware"]),
             write_netcdf(stats, out_dir / "statistics.nc")]
    run.log(f"compare: {json.dumps(rows)}")
    return Comparison(rows, out_dir, files)


def _compare_mesh(run: RunDir, resolved, solver, names: list[str], out, device) -> Comparison:
    """Mesh movers: the model and each baseline on the test meshes and the held-out sets
    (`pdesolve.engines.mesh_movement`)."""
    out_dir = Path(out) if out else run.path / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, header, stats, files = compare_mesh_movement(resolved, solver, names, device, out_dir)
    files = [*write_tables(out_dir, header, rows, hardware=stats.attrs["hardware"]),
             write_netcdf(stats, out_dir / "statistics.nc"), *files]
    run.log(f"compare: {json.dumps(rows)}")
    return Comparison(rows, out_dir, files)


KIND_COMPARES = {"linear": _compare_linear, "mesh": _compare_mesh}  # solver kinds with their own comparison
TASK_COMPARES = {"mesh_map": _compare_mesh_map}  # problem tasks with their own comparison


def _other_models(resolved, runs: list[str | Path], window: int, device) -> list:
    """The solvers of other runs trained on the same data (to compare from the same inputs), each
    needing at most ``window`` input frames."""
    digest = resolved.problem.recipe_hash(recipe_of(resolved))
    solvers = []
    for path in runs:
        other = RunDir.open(path)
        other_case = other.load_case()
        if other_case.problem.recipe_hash(recipe_of(other_case)) != digest:
            raise UserError("this run was trained on other data than the compared run", source=str(path))
        solver = other.load_solver(device)
        if solver.kind != "operator" or solver.setup.get("window", 1) > window:
            raise UserError(f"expected an operator run with a window of at most {window} frames",
                            source=str(path))
        solvers.append(solver)
    return solvers


def compare_run(run: RunDir | str | Path, *, baselines: list[str] | None = None,
                out: str | Path | None = None, device: torch.device | str = "cpu",
                models: list[str | Path] | None = None) -> Comparison:
    """Run the model and each baseline from the test inputs and compare them against the reference.

    ``models``: other run directories (operator backends trained on the same data, e.g. an FNO next
    to an IFactFormer) rolled out from the same inputs and judged beside the model.
    """
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    resolved = run.load_case()
    problem = resolved.problem
    names = baselines if baselines is not None else resolved.case.compare.baselines
    available = problem.baselines()
    unknown = [b for b in names if b not in available]
    if unknown:
        raise UserError(f"unknown baseline(s) {unknown} for '{problem.name}' "
                        f"(expected: {', '.join(sorted(available)) or 'none'})", source="--baseline")
    solver = run.load_solver(device)
    if models and (solver.kind in KIND_COMPARES or problem.task in TASK_COMPARES):
        raise UserError("other models can be compared on map and trajectory problems only", source="--model")
    if solver.kind in KIND_COMPARES:
        return KIND_COMPARES[solver.kind](run, resolved, solver, names, out, device)
    if problem.task in TASK_COMPARES:
        return TASK_COMPARES[problem.task](run, resolved, solver, names, out, device)
    if solver.kind != "operator" or problem.task not in ("trajectory", "map"):
        raise UserError(f"compare does not handle {solver.kind} backends on {problem.task} problems")
    data, _, _ = load_or_generate(resolved)
    test = select_split(data, "test")
    grid = grid_from_dataset(test)
    outputs = list(solver.setup["outputs"])
    results: list[MethodResult] = []
    others = _other_models(resolved, models or [], solver.window, device)
    labels = [s.label for s in (solver, *others)]
    if len(set(labels)) < len(labels):
        raise UserError(f"compared models need distinct labels, got {labels}", source="--model")

    if problem.task == "trajectory":
        ref_all = to_tensor(test, outputs)
        k = solver.window
        steps = resolved.case.rollout.steps or ref_all.shape[1] - k
        steps = min(steps, ref_all.shape[1] - k)
        reference = ref_all[:, k:k + steps]
        t = test["time"].values
        times = t[k:k + steps]
        span = float(times[-1] - t[k - 1])
        for model in (solver, *others):
            traj, sec = _timed(lambda m=model: predict_trajectory(
                m.predict, ref_all[:, k - m.window:k], steps, description=f"rollout {m.label}"))
            results.append(MethodResult(model.label, traj.frames, sec))
        start = ref_all[:, k - 1].to(device, torch.float64)  # baselines run on the compare device
        for b in names:
            pred, sec = _timed(lambda b=b: available[b].run(problem, start, grid, float(t[k - 1]), times)
                               .float().cpu())
            results.append(MethodResult(b, pred, sec))
        unit, per = "s per time unit per sample", span * ref_all.shape[0]
    else:
        x = to_tensor(test, solver.setup["inputs"])
        reference = to_tensor(test, outputs).unsqueeze(1)
        times = np.zeros(1)
        for model in (solver, *others):
            pred, sec = _timed(lambda m=model: m.predict(x.unsqueeze(1)))
            results.append(MethodResult(model.label, pred.unsqueeze(1), sec))
        for b in names:
            pred, sec = _timed(lambda b=b: available[b].run(problem, x.to(torch.float64), grid, 0.0, []).float())
            results.append(MethodResult(b, pred.unsqueeze(1), sec))
        unit, per = "s per sample", float(x.shape[0])

    hardware = describe(torch.device(device))
    rows, curves, spectra_curves, stats = [], {}, {}, {}
    k_ref, e_ref = energy_spectrum(reference[:, -1], grid.ndim, grid.lengths)
    if grid.periodic:
        spectra_curves["reference"] = (k_ref.numpy(), e_ref.numpy())
    for r in results:
        m = r.prediction.shape[1]
        per_step = torch.stack([relative_l2(r.prediction[:, s], reference[:, s]) for s in range(m)], 1).mean(0)
        row = {
            "method": r.name,
            "rel_l2": float(relative_l2(r.prediction, reference[:, :m]).mean()),
            "final_rel_l2": float(per_step[-1]),
        }
        if grid.periodic:
            _, e = energy_spectrum(r.prediction[:, -1], grid.ndim, grid.lengths)
            row["spectrum_log_err"] = spectrum_log_error(e, e_ref)
            spectra_curves[r.name] = (k_ref.numpy(), e.numpy())
            stats[f"spectrum_{r.name}"] = e.numpy()
        row[unit] = r.seconds / per
        rows.append(row)
        curves[r.name] = (times[:m], per_step.numpy())
        stats[f"error_{r.name}"] = per_step.numpy()
    turbulence = None
    if isinstance(problem, TurbulentFlow):  # spectra, PDFs and time series of the velocity
        turbulence = compare_turbulence(problem.velocity(reference, grid),
                                        {r.name: problem.velocity(r.prediction, grid) for r in results},
                                        grid, problem.viscosity, times)
        for row in rows:
            row.update(turbulence.row(row["method"]))

    out_dir = Path(out) if out else run.path / "compare"
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (f"# {resolved.name}: {', '.join(labels)} against {', '.join(names) or 'no baseline'}\n\n"
              f"Test samples: {reference.shape[0]}; grid {list(grid.shape)}; hardware: {hardware}.\n"
              f"Errors are relative L2 against the reference data, mean over samples.\n\n")
    files = write_tables(out_dir, header, rows, hardware=hardware, unit=unit)
    ds = xr.Dataset(attrs={"Conventions": "CF-1.10", "title": f"{resolved.name} comparison statistics",
                           "source": f"pdesolve {__version__}", "hardware": hardware})
    ds = ds.assign_coords(time=xr.Variable(("time",), np.asarray(times, float), {"units": "1", "long_name": "time"}))
    for r in results:
        m = r.prediction.shape[1]
        ds[f"error_{r.name}"] = xr.Variable(("time",), np.pad(stats[f"error_{r.name}"], (0, len(times) - m),
                                                               constant_values=np.nan),
                                            {"units": "1", "long_name": f"relative L2 error of {r.name}"})
        if grid.periodic:
            ds[f"spectrum_{r.name}"] = xr.Variable(("wavenumber",), stats[f"spectrum_{r.name}"],
                                                   {"units": "1", "long_name": f"final-step spectrum of {r.name}"})
    if grid.periodic:
        ds = ds.assign_coords(wavenumber=xr.Variable(("wavenumber",), k_ref.numpy(),
                                                     {"units": "1", "long_name": "angular wavenumber"}))
        ds["spectrum_reference"] = xr.Variable(("wavenumber",), e_ref.numpy(),
                                               {"units": "1", "long_name": "final-step reference spectrum"})
    if turbulence is not None:
        ds = ds.merge(turbulence.dataset())
    files.append(write_netcdf(ds, out_dir / "statistics.nc"))
    if resolved.case.output.figures:
        if problem.task == "trajectory":
            files.append(figures.error_curves(curves, out_dir / "error_vs_time.png", title=resolved.name))
        if spectra_curves:
            files.append(figures.spectra(spectra_curves, out_dir / "spectra.png",
                                         title=f"{resolved.name}: spectrum at the last step"))
        panels = {"reference": reference[0, -1, 0].numpy(),
                  **{r.name: r.prediction[0, -1, 0].numpy() for r in results}}
        files.append(figures.field_panels(panels, out_dir / "fields.png",
                                          title=f"{outputs[0]}, test sample 0, last step"))
        if turbulence is not None:
            files += turbulence.figures(out_dir, resolved.name)
    run.log(f"compare: {json.dumps(rows)}")
    return Comparison(rows, out_dir, files)
