"""Linear backends (DCDM) on ``linear`` problems: families of sparse SPD systems on grids.

Rollout: every test system solved by the model, its solution beside SuperLU's, the residual
history. Compare: the model and the problem's classical solvers (CG, IC(0)-PCG, AMG-PCG) through
the same conjugate-direction loop to relative residuals 1e-4 and 1e-6 (`pdesolve.engines.linear`).
Iterations are always means over the systems that reached a tolerance, with the count that did.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import xarray as xr

from pdesolve.data.samples import select_split
from pdesolve.engines import figures
from pdesolve.engines.evaluation import Artifact, ComparisonResult, Evaluation, RolloutResult
from pdesolve.engines.linear import TOLERANCES, histories_dataset, history_curves, run_methods, summary_row
from pdesolve.numerics.grid_systems import direct_solve
from pdesolve.progress import track

LEGEND = {
    "method": "the model (backend name), then the classical solvers",
    **{f"reached_{t:.0e}": f"systems that reached relative residual {t:.0e} / all test systems" for t in TOLERANCES},
    **{f"iterations_{t:.0e}": f"iterations to relative residual {t:.0e}, mean over the systems that reached it "
                              "(NaN: none did; lower is better)" for t in TOLERANCES},
    **{f"solve_s_{t:.0e}": f"wall time of the iteration to {t:.0e} [s], mean over the systems that reached it"
       for t in TOLERANCES},
    "setup_s": "set-up time per system [s]: factorisation, AMG hierarchy, network placement",
    "matvecs": "products with A per solve",
    "direction_calls": "network (or preconditioner) applications per solve",
    "final_residual": "true relative residual ||b - A x|| / ||b|| at the end of the solve",
    "first_step_loss": "||r_1||^2 / ||b||^2: the DCDM training loss of the method's first direction",
}


class LinearSystemsEvaluation(Evaluation, kind="linear", task="linear"):
    """See the module docstring."""

    headline = {"iterations_mean": "iterations to rtol (converged systems)", "converged_fraction": "converged",
                "rtol": "rtol", "rollout_rel_l2": "solution rel. L2 vs direct", "seconds_per_sample": "s per system"}

    def rollout(self, test: xr.Dataset, steps: int | None) -> RolloutResult:
        problem, solver = self.problem, self.solver
        t0 = time.perf_counter()
        ds = solver.solve(problem, test)
        seconds = (time.perf_counter() - t0) / test.sizes["sample"]
        systems = problem.systems(test)
        rhs = problem.right_hand_sides(test, systems)
        pairs = track(zip(systems, rhs, strict=True), "direct solves (reference)", total=len(systems))
        reference = np.stack([s.scatter(direct_solve(s, b)) for s, b in pairs])
        error = np.linalg.norm((ds["solution"].values - reference).reshape(len(systems), -1), axis=1) \
            / np.linalg.norm(reference.reshape(len(systems), -1), axis=1)
        ds["solution_reference"] = xr.Variable(ds["solution"].dims, reference,
                                               {"units": "1", "long_name": "direct (SuperLU) solution"})
        ds["rel_l2_error"] = xr.Variable(("sample",), error,
                                         {"units": "1", "long_name": "relative L2 error of the solution"})
        converged = ds["converged"].values.astype(bool)
        metrics = {"iterations_mean": float(ds["iterations"].values[converged].mean()) if converged.any()
                   else float("nan"),
                   "converged_fraction": float(converged.mean()), "rtol": solver.options.rtol,
                   "rollout_rel_l2": float(error.mean()), "seconds_per_sample": seconds}
        curves = {solver.name: [row[np.isfinite(row)] for row in ds["residual"].values]}
        title = f"{self.resolved.name} ({solver.name}), test systems: residual"
        artifact = Artifact("rollout.png", lambda p: figures.residual_histories(
            curves, p, title=title, tolerances=TOLERANCES))
        return RolloutResult(ds, metrics, [artifact])

    def compare(self, baselines: list[str], models: Sequence) -> ComparisonResult:
        problem, solver = self.problem, self.solver
        test = select_split(self.context.data, "test")
        systems = problem.systems(test)
        rhs = problem.right_hand_sides(test, systems)
        available = problem.baselines()
        methods = [solver, *(available[b] for b in baselines)]
        reports = run_methods(methods, systems, rhs, rtol=TOLERANCES[-1], max_iter=solver.options.max_iter)
        rows = [summary_row(name, rs) for name, rs in reports.items()]
        description = (f"Test systems: {len(systems)} (unseen geometries), grid {list(systems[0].shape)}, "
                       f"{np.mean([s.size for s in systems]):.0f} unknowns on average; cap {solver.options.max_iter} "
                       f"iterations; hardware: {self.context.hardware} ({solver.name} on {solver.device}, "
                       f"baselines on the CPU). Times in seconds.")
        curves = history_curves(reports)
        artifact = Artifact("residual_history.png", lambda p: figures.residual_histories(
            curves, p, title=f"{self.resolved.name}: test systems", tolerances=TOLERANCES))
        return ComparisonResult(
            title=f"{self.resolved.name}: {solver.name} against {', '.join(baselines) or 'no baseline'}",
            description=description, rows=rows, legend=LEGEND, statistics=histories_dataset(reports),
            artifacts=[artifact])
