"""Engines for ``linear`` problems (DCDM): solving the test systems with several methods,
summarising iterations and times, and ``pdesolve solve RUN --system FILE`` (rollout and compare
are in `pdesolve.engines.evaluations.linear_systems`).

Methods follow the `pdesolve.numerics.grid_systems.LinearMethod` protocol (the DCDM solver and
the problem's classical baselines); every one runs through the same conjugate-direction loop and
is timed the same way: setup (factorisation, AMG hierarchy, operator) apart from the iteration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from pdesolve.data.destinations import check_file_destination
from pdesolve.data.grid import Grid
from pdesolve.data.netcdf import write_netcdf
from pdesolve.engines.runs import RunDir
from pdesolve.errors import RunFailure, UserError
from pdesolve.numerics.grid_systems import (
    GridSystem,
    LinearMethod,
    SolveReport,
    load_system,
    solve_with,
)
from pdesolve.progress import make_progress
from pdesolve.version import __version__

TOLERANCES = (1e-4, 1e-6)


def run_methods(methods: Sequence[LinearMethod], systems: Sequence[GridSystem], rhs: Sequence[np.ndarray], *,
                rtol: float = TOLERANCES[-1], max_iter: int = 1000) -> dict[str, list[SolveReport]]:
    """Every method on every system (to ``rtol``): ``method name -> one report per system``."""
    out: dict[str, list[SolveReport]] = {}
    with make_progress() as bar:
        task = bar.add_task("solve", total=len(methods) * len(systems), status="")
        for method in methods:
            bar.update(task, status=method.name)
            out[method.name] = []
            for system, b in zip(systems, rhs, strict=True):
                out[method.name].append(solve_with(method, system, b, rtol=rtol, max_iter=max_iter))
                bar.advance(task)
    return out


def _mean(values: list[float | None]) -> float:
    got = [v for v in values if v is not None]
    return float(np.mean(got)) if got else float("nan")


def summary_row(name: str, reports: list[SolveReport], tolerances: Sequence[float] = TOLERANCES) -> dict:
    """Mean figures of one method over systems. Iterations and times to a tolerance are averaged
    over the systems that reached it; ``reached_<tol>`` says how many did. ``first_step_loss`` is
    ``||r_1||^2 / ||b||^2``, the DCDM training loss of the method's first direction on ``b``
    (identity for CG, a preconditioner solve, the network)."""
    row: dict = {"method": name}
    for t in tolerances:
        its = [r.result.iterations_to(t) for r in reports]
        row[f"reached_{t:.0e}"] = f"{sum(i is not None for i in its)}/{len(its)}"
        row[f"iterations_{t:.0e}"] = _mean(its)
        row[f"solve_s_{t:.0e}"] = _mean([r.result.seconds_to(t) for r in reports])
    row["setup_s"] = _mean([r.setup_seconds for r in reports])
    row["matvecs"] = _mean([r.result.matvecs for r in reports])
    row["direction_calls"] = _mean([r.result.direction_calls for r in reports])
    row["final_residual"] = _mean([r.result.true_residual for r in reports])
    row["first_step_loss"] = _mean([float(r.residuals[1]) ** 2 if len(r.residuals) > 1 else None
                                    for r in reports])
    return row


def history_curves(reports: dict[str, list[SolveReport]]) -> dict[str, list[np.ndarray]]:
    """Residual histories per method (one array per system), for `figures.residual_histories`."""
    return {name: [r.residuals for r in rs] for name, rs in reports.items()}


def histories_dataset(reports: dict[str, list[SolveReport]]) -> xr.Dataset:
    """``residual_<method>(sample, iteration)``, NaN-padded, for ``compare/statistics.nc``."""
    length = max(len(r.residuals) for rs in reports.values() for r in rs)
    ds = xr.Dataset(coords={"iteration": xr.Variable(("iteration",), np.arange(length),
                                                     {"units": "1", "long_name": "iteration"})})
    for name, rs in reports.items():
        h = np.full((len(rs), length), np.nan)
        for i, r in enumerate(rs):
            h[i, : len(r.residuals)] = r.residuals
        ds[f"residual_{name}"] = xr.Variable(("sample", "iteration"), h, {
            "units": "1", "long_name": f"relative residual of {name} per iteration"})
    return ds


# -------------------------------------------------------------------------------- solve
@dataclass
class FileSolve:
    """``pdesolve solve``: the report, the grid and the written file."""

    report: SolveReport
    system: GridSystem
    path: Path


def solve_file(run: RunDir | str | Path, system_file: str | Path, *, rtol: float | None = None,
               max_iter: int | None = None, out: str | Path | None = None,
               device: torch.device | str = "cpu") -> FileSolve:
    """Solve the system in ``system_file`` (see `pdesolve.numerics.grid_systems.save_system`) with
    the run's trained solver; write the solution x and the residual history to ``out`` (netCDF; default
    ``<system_file stem>.solution.nc`` beside it).

    Raises:
        UserError: before solving -- a bad ``rtol``, a destination that cannot be written, a system
            that is not valid (`load_system`) or that the network cannot take.
        RunFailure: the iteration broke down (nothing is written).
    """
    if rtol is not None and not (math.isfinite(rtol) and 0 < rtol < 1):
        raise UserError(f"expected a relative residual between 0 and 1, got {rtol}", source="--rtol")
    target = Path(out) if out else Path(system_file).with_suffix(".solution.nc")
    check_file_destination(target, source="--out" if out else str(system_file))
    run = run if isinstance(run, RunDir) else RunDir.open(run)
    solver = run.load_solver(device)
    if solver.kind != "linear":
        raise UserError(f"run's backend '{solver.name}' is not a linear solver (expected e.g. dcdm)",
                        source=str(run.path))
    system, b = load_system(system_file)
    try:
        solver.check_grid(len(system.shape))
    except UserError as err:
        raise err.located(str(system_file), "grid_shape") from None
    report = solver.solve_grid(system, b, rtol=rtol, max_iter=max_iter)
    r = report.result
    if r.stopped == "breakdown" or not math.isfinite(r.true_residual):
        raise RunFailure(f"the iteration broke down at iteration {r.iterations + 1} (a search direction d with "
                         f"d.Ad <= 0 or not finite: the matrix is not positive definite for this right-hand "
                         f"side); no solution written")
    grid = Grid.uniform(len(system.shape), system.shape, layout="cells")
    ds = xr.Dataset(
        {"solution": xr.Variable(grid.names, report.x, {"units": "1", "long_name": "solution of A x = b"}),
         "residual": xr.Variable(("iteration",), report.residuals,
                                 {"units": "1", "long_name": "relative residual after each iteration"})},
        coords={**{a.name: xr.Variable((a.name,), np.arange(a.size),
                                       {"long_name": f"{a.name} cell index", "units": "1"})
                   for a in grid.axes},
                "iteration": xr.Variable(("iteration",), np.arange(len(report.residuals)), {"units": "1"})},
        attrs={"Conventions": "CF-1.10", "title": f"{solver.name} solution of {Path(system_file).name}",
               "source": f"pdesolve {__version__}, backend {solver.name}, run {run.path}",
               "iterations": report.result.iterations, "converged": int(report.result.converged),
               "stopped": report.result.stopped, "true_residual": report.result.true_residual,
               "matvecs": report.result.matvecs, "network_calls": report.result.direction_calls,
               "setup_seconds": report.setup_seconds, "solve_seconds": float(report.result.seconds[-1]),
               "rhs_removed_by_projection": report.rhs_removed})
    return FileSolve(report, system, write_netcdf(ds, target))
