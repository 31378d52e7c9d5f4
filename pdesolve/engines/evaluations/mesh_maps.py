"""Operator backends on ``mesh_map`` problems (geometry -> steady fields, one mesh per sample; enf2enf).

Rollout: every test sample predicted on its own mesh, returned with the reference and the input
geometry fields as one UGRID-1.0 mesh, the disjoint union of the test meshes with
``node_sample(node)`` (`pdesolve.data.mesh_samples.union_dataset`), plus ``rel_l2_error(sample)``.
Compare: the model and the problem's `MeshBaseline`\\ s (training mean, nearest geometry) on the
test split.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from pdesolve.data.fields import FieldSpec  # noqa: E402
from pdesolve.data.mesh import Mesh  # noqa: E402
from pdesolve.data.mesh_samples import sample_mesh, sample_values, union_dataset  # noqa: E402
from pdesolve.data.netcdf import atomic_replace  # noqa: E402
from pdesolve.data.samples import select_split  # noqa: E402
from pdesolve.engines.evaluation import Artifact, ComparisonResult, Evaluation, RolloutResult  # noqa: E402
from pdesolve.engines.evaluations.grid_operators import reference_spec  # noqa: E402
from pdesolve.engines.evaluations.verdict import baseline_verdict  # noqa: E402
from pdesolve.engines.figures import field_label  # noqa: E402
from pdesolve.metrics import ragged_relative_l2  # noqa: E402

ERROR_SPEC = FieldSpec("rel_l2_error", "1", "relative L2 error of the prediction over the sample's nodes")


def _per_sample(ds: xr.Dataset, names: list[str]) -> list[np.ndarray]:
    return [np.stack([sample_values(ds, n, i) for n in names], axis=1).astype(np.float64)
            for i in range(ds.sizes["sample"])]


def mesh_map_figure(mesh: Mesh, reference: np.ndarray, prediction: np.ndarray, path: Path, *,
                    spec: FieldSpec, title: str) -> Path:
    """Reference, prediction and error of one sample on its mesh (``tripcolor``), colour bars labelled."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    lo, hi = float(reference.min()), float(reference.max())
    err = prediction - reference
    emax = float(np.abs(err).max()) or 1.0
    label = field_label(spec, spec.name)
    panels = (("reference", reference, "viridis", lo, hi, label), ("prediction", prediction, "viridis", lo, hi, label),
              ("error", err, "RdBu_r", -emax, emax, f"error of {label}"))
    for ax, (name, values, cmap, vmin, vmax, bar) in zip(axes, panels, strict=True):
        im = ax.tripcolor(mesh.nodes[:, 0], mesh.nodes[:, 1], mesh.cells, values, shading="gouraud",
                          cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_aspect("equal")
        ax.set_title(name)
        ax.set_xlabel("x [1]", fontsize=7)
        ax.set_ylabel("y [1]", fontsize=7)
        ax.tick_params(labelsize=6)
        fig.colorbar(im, ax=ax, shrink=0.8).set_label(bar, fontsize=7)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_replace(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


class MeshMapEvaluation(Evaluation, kind="operator", task="mesh_map"):
    """See the module docstring."""

    headline = {"rollout_rel_l2": "test rel. L2 (rollout.nc)", "seconds_per_sample": "s per sample"}

    def rollout(self, test: xr.Dataset, steps: int | None) -> RolloutResult:
        problem, solver = self.problem, self.solver
        names, inputs = list(solver.setup["outputs"]), list(solver.setup["inputs"])
        t0 = time.perf_counter()
        pred_ds = solver.solve(problem, test)
        seconds = (time.perf_counter() - t0) / test.sizes["sample"]
        meshes = [sample_mesh(test, i) for i in range(test.sizes["sample"])]
        pred, ref = _per_sample(pred_ds, names), _per_sample(test, names)
        err = ragged_relative_l2(pred, ref)
        fields = {n: [p[:, c] for p in pred] for c, n in enumerate(names)}
        fields.update({f"{n}_reference": [r[:, c] for r in ref] for c, n in enumerate(names)})
        fields.update({n: [sample_values(test, n, i) for i in range(len(meshes))] for n in inputs})
        specs = {**problem.fields, **{f"{n}_reference": reference_spec(problem.fields[n]) for n in names}}
        ds = union_dataset(meshes, fields, specs)
        ds[ERROR_SPEC.name] = xr.Variable(("sample",), err.astype(np.float32), ERROR_SPEC.attrs())
        metrics = {"steps": 1, "rollout_rel_l2": float(err.mean()), "final_step_rel_l2": float(err.mean()),
                   "seconds_per_sample": seconds, "stopped": None}
        title = f"{self.resolved.name} ({solver.name}), test sample 0"
        artifact = Artifact("rollout.png", lambda p: mesh_map_figure(
            meshes[0], ref[0][:, 0], pred[0][:, 0], p, spec=problem.fields[names[0]], title=title))
        return RolloutResult(ds, metrics, [artifact])

    def compare(self, baselines: list[str], models: Sequence) -> ComparisonResult:
        problem, solver = self.problem, self.solver
        data = self.context.data
        train, test = select_split(data, "train"), select_split(data, "test")
        names = list(solver.setup["outputs"])
        ref = _per_sample(test, names)
        n = test.sizes["sample"]
        t0 = time.perf_counter()
        pred_ds = solver.solve(problem, test)
        predictions = {solver.name: (_per_sample(pred_ds, names), (time.perf_counter() - t0) / n)}
        available = problem.baselines()
        for b in baselines:
            t0 = time.perf_counter()
            pred = available[b].predict(train, test, names)
            predictions[b] = (pred, (time.perf_counter() - t0) / n)
        errors = {k: ragged_relative_l2(p, ref) for k, (p, _) in predictions.items()}
        rows = [{"method": k, "test_rel_l2": float(errors[k].mean()), "seconds_per_sample": s}
                for k, (_, s) in predictions.items()]
        stats = xr.Dataset({f"error_{k}": xr.Variable(("sample",), e.astype(np.float32), ERROR_SPEC.attrs())
                            for k, e in errors.items()})
        legend = {"method": "the model (backend name), then the baselines",
                  "test_rel_l2": "relative L2 error over each test sample's nodes, mean over samples "
                                 "(lower is better)",
                  "seconds_per_sample": "wall time per test sample on this machine [s]"}
        return ComparisonResult(
            title=f"{self.resolved.name}: {solver.name} against {', '.join(baselines) or 'no baseline'}",
            description=(f"Test samples: {n} unseen geometries, each on its own mesh; hardware: "
                         f"{self.context.hardware}."),
            rows=rows, legend=legend, statistics=stats,
            verdict=baseline_verdict(rows, solver.name, baselines, "test_rel_l2", "seconds_per_sample"))
