"""Mesh backends (UM2N) on ``mesh`` problems: learned mesh movement.

A ``mesh`` problem (`pdesolve.problems.helmholtz_mesh`) provides `mesh_errors(ds, i, meshes)` (the
PDE solution's error on the original and on moved meshes against a fine-mesh solution),
`sample_problem(ds, i)`, `held_out(n, seed)` (generalisation sets: an unseen resolution, unseen
polygon domains) and the ``monge_ampere`` baseline (``move(problem, mesh, sample)``).

* Rollout: every test mesh moved by the model, as one UGRID-1.0 mesh (the disjoint union of the test
  meshes, ``node_sample(node)``; `pdesolve.data.mesh_samples.union_dataset`) with the original and
  Monge--Ampere coordinates, the monitor and the solution as node fields, plus per-mesh errors,
  error reductions, tangled cells and times.
* Compare: the model and the movers on the test split and the held-out sets: error reduction,
  tangled elements, time per mesh (and iterations); a figure of original / Monge--Ampere / model
  meshes coloured by the monitor, ParaView ``.vtu`` files and UGRID netCDF of the moved meshes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

from pdesolve.data.fields import FieldSpec  # noqa: E402
from pdesolve.data.mesh import Mesh  # noqa: E402
from pdesolve.data.mesh_samples import sample_mesh, sample_values, union_dataset  # noqa: E402
from pdesolve.data.netcdf import atomic_replace  # noqa: E402
from pdesolve.data.samples import select_split  # noqa: E402
from pdesolve.engines.evaluation import Artifact, ComparisonResult, Evaluation, RolloutResult  # noqa: E402
from pdesolve.numerics.monge_ampere import tangled_cells  # noqa: E402

NODE_SPECS = {
    "original_x": FieldSpec("original_x", "1", "x of the node on the original mesh"),
    "original_y": FieldSpec("original_y", "1", "y of the node on the original mesh"),
    "monge_ampere_x": FieldSpec("monge_ampere_x", "1", "x of the node on the Monge-Ampere mesh"),
    "monge_ampere_y": FieldSpec("monge_ampere_y", "1", "y of the node on the Monge-Ampere mesh"),
    "monitor": FieldSpec("monitor", "1", "monitor at the node (original mesh)"),
    "solution": FieldSpec("solution", "1", "finite-element solution on the original mesh"),
}
SAMPLE_SPECS = {
    "error_original": FieldSpec("error_original", "1", "L2 error of u_h on the original mesh"),
    "error_model": FieldSpec("error_model", "1", "L2 error of u_h on the model's moved mesh"),
    "error_monge_ampere": FieldSpec("error_monge_ampere", "1", "L2 error of u_h on the Monge-Ampere mesh"),
    "error_reduction_model": FieldSpec("error_reduction_model", "1", "1 - error_model / error_original"),
    "error_reduction_monge_ampere": FieldSpec(
        "error_reduction_monge_ampere", "1", "1 - error_monge_ampere / error_original"),
    "tangled_model": FieldSpec("tangled_model", "1", "inverted cells of the model's mesh"),
    "seconds_model": FieldSpec("seconds_model", "s", "model forward time for the mesh"),
    "displacement_error": FieldSpec(
        "displacement_error", "1", "|x_model - x_MA| / |x_MA - x_original| over the nodes"),
}
LEGEND = {
    "set": "test: the test split; other sets: held-out generalisation sets (unseen resolution, polygons)",
    "method": "the model (backend name), then the classical movers",
    "meshes": "meshes in the set", "nodes": "nodes per mesh, mean",
    "error_reduction": "1 - e_moved / e_original, mean over the meshes whose moved mesh is untangled (higher is "
                       "better; e: L2 error of the P1 solution against a fine-mesh solution)",
    "error_reduction_std": "standard deviation of error_reduction over those meshes",
    "error_meshes": "meshes that count in error_reduction (untangled)",
    "tangled_cells": "inverted cells over the set (0 is required)", "tangled_meshes": "meshes with an inverted cell",
    "seconds_per_mesh": "wall time per mesh [s] (model: one forward pass per mesh; Monge-Ampere: the relaxation "
                        "with the PDE re-solved on every iterate)",
    "cpu_seconds_per_mesh": "this process's CPU time per mesh [s] (a busy shared machine inflates it less)",
    "iterations": "Monge-Ampere relaxation iterations per mesh (NaN for the model)",
    "unconverged_meshes": "Monge-Ampere runs that hit maxiter or diverged (their last iterate is used)",
}


def _targets(ds: xr.Dataset, i: int) -> np.ndarray:
    return np.stack([sample_values(ds, n, i) for n in ("target_x", "target_y")], 1).astype(np.float64)


def displacement_error(original: Mesh, moved: Mesh, target: np.ndarray) -> float:
    """``|x_model - x_MA| / |x_MA - x_original|`` (Frobenius norms over the nodes)."""
    return float(np.linalg.norm(moved.nodes - target) / max(np.linalg.norm(target - original.nodes), 1e-12))


def use_case_threads(resolved) -> None:
    """Apply the case's ``train.threads`` (timings of the model and of the mover depend on it)."""
    if resolved.case.train.threads:
        torch.set_num_threads(resolved.case.train.threads)


@dataclass
class MovedSet:
    """One method's meshes for every sample of a set, and what they cost.

    ``iterations`` and ``converged`` are the classical movers' (empty for the model); ``errors`` is
    the PDE error on each moved mesh and ``tangled`` its inverted cells."""

    meshes: list[Mesh]
    seconds: list[float]
    cpu_seconds: list[float]
    iterations: list[int] = field(default_factory=list)
    converged: list[bool] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    tangled: list[int] = field(default_factory=list)


@dataclass
class MeshSet:
    """A set of meshes (test split or held-out set) moved by the model and each baseline."""

    originals: list[Mesh]
    monitors: list[np.ndarray]
    error_original: np.ndarray
    methods: dict[str, MovedSet]  # "model" first

    def error_reduction(self, method: str) -> np.ndarray:
        return 1 - np.asarray(self.methods[method].errors) / self.error_original


def move_set(problem, solver, ds: xr.Dataset, baselines: Sequence[str]) -> MeshSet:
    """The model (and each baseline) on every sample of ``ds``, with errors and tangled cells.

    Timed interleaved: mesh by mesh, the model's forward pass, then each baseline's move, so a
    change in the machine's load affects every method alike (the model warms up once first)."""
    available = problem.baselines()
    originals = [sample_mesh(ds, i) for i in range(ds.sizes["sample"])]
    graphs = solver.graphs(ds, targets=False)
    if graphs:
        solver.move(graphs[:1])  # warm-up
    methods = {m: MovedSet([], [], []) for m in ("model", *baselines)}
    for i, (original, graph) in enumerate(zip(originals, graphs, strict=True)):
        t = solver.move([graph], warm_up=False)
        s = methods["model"]
        s.meshes.append(original.with_nodes(t.nodes[0]))
        s.seconds += t.seconds
        s.cpu_seconds += t.cpu_seconds
        for b in baselines:
            r = available[b].move(problem, original, problem.sample_problem(ds, i))
            s = methods[b]
            s.meshes.append(original.with_nodes(r.nodes))
            s.seconds.append(r.seconds)
            s.cpu_seconds.append(r.cpu_seconds)
            s.iterations.append(r.iterations)
            s.converged.append(bool(r.converged))
    moved = methods["model"].meshes
    errors = [problem.mesh_errors(ds, i, {m: s.meshes[i] for m, s in methods.items()}) for i in range(len(moved))]
    for m, s in methods.items():
        s.errors = [e[m] for e in errors]
        s.tangled = [tangled_cells(o, x.nodes) for o, x in zip(originals, s.meshes, strict=True)]
    monitors = [sample_values(ds, "monitor", i) for i in range(len(moved))]
    return MeshSet(originals, monitors, np.asarray([e["original"] for e in errors]), methods)


def set_rows(set_name: str, moved: MeshSet, model_name: str) -> list[dict]:
    """One compare-table row per method of ``moved`` (columns: `LEGEND`)."""
    rows = []
    nodes = float(np.mean([m.n_nodes for m in moved.originals]))
    for m, s in moved.methods.items():
        er = moved.error_reduction(m)
        defined = er[np.isfinite(er)]  # a tangled mesh has no error (NaN)
        tangles = np.asarray(s.tangled)
        rows.append({
            "set": set_name, "method": model_name if m == "model" else m, "meshes": len(er), "nodes": nodes,
            "error_reduction": float(defined.mean()) if defined.size else float("nan"),
            "error_reduction_std": float(defined.std()) if defined.size else float("nan"),
            "error_meshes": int(defined.size), "tangled_cells": int(tangles.sum()),
            "tangled_meshes": int((tangles > 0).sum()),
            "seconds_per_mesh": float(np.mean(s.seconds)),
            "cpu_seconds_per_mesh": float(np.mean(s.cpu_seconds)),
            "iterations": float(np.mean(s.iterations)) if s.iterations else float("nan"),
            "unconverged_meshes": (len(er) - sum(s.converged)) if s.converged else float("nan"),
        })
    return rows


def mesh_panels_figure(rows: dict[str, tuple[np.ndarray | dict[str, np.ndarray], dict[str, Mesh]]], path: Path, *,
                       name: str = "monitor", title: str = "") -> Path:
    """One row per entry: meshes (columns) with the same topology, coloured by the nodal ``name``
    values (``rows[label] = (values, {column: mesh})``; ``values`` one array for the row or one per
    column), edges drawn."""
    n_cols = max(len(m) for _, m in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(3.6 * n_cols, 3.4 * len(rows)), squeeze=False)
    for r, (label, (values, meshes)) in enumerate(rows.items()):
        for c, (col, mesh) in enumerate(meshes.items()):
            ax = axes[r, c]
            x, y = mesh.nodes[:, 0], mesh.nodes[:, 1]
            v = values[col] if isinstance(values, dict) else values
            im = ax.tripcolor(x, y, mesh.cells, v, shading="gouraud", cmap="viridis")
            ax.triplot(x, y, mesh.cells, color="k", linewidth=0.25)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}: {col}", fontsize=9)
        fig.colorbar(im, ax=list(axes[r, : len(meshes)]), shrink=0.8, label=f"{name} [1]")
    if title:
        fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_replace(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


class MeshMovementEvaluation(Evaluation, kind="mesh", task="mesh"):
    """See the module docstring."""

    headline = {"error_reduction": "error reduction (model)",
                "error_reduction_monge_ampere": "error reduction (Monge-Ampere)",
                "tangled_cells": "tangled cells", "displacement_error": "displacement error vs Monge-Ampere",
                "seconds_per_sample": "s per mesh"}

    def rollout(self, test: xr.Dataset, steps: int | None) -> RolloutResult:
        problem, solver = self.problem, self.solver
        use_case_threads(self.resolved)
        originals, moved, timing = solver.move_dataset(test)
        n = len(moved)
        targets = [_targets(test, i) for i in range(n)]
        errors = [problem.mesh_errors(test, i, {"model": moved[i], "monge_ampere": originals[i].with_nodes(targets[i])})
                  for i in range(n)]
        per = {k: np.array([e[k.removeprefix("error_")] for e in errors])
               for k in ("error_original", "error_model", "error_monge_ampere")}
        per["error_reduction_model"] = 1 - per["error_model"] / per["error_original"]
        per["error_reduction_monge_ampere"] = 1 - per["error_monge_ampere"] / per["error_original"]
        per["tangled_model"] = np.array([tangled_cells(o, m.nodes) for o, m in zip(originals, moved, strict=True)])
        per["seconds_model"] = np.asarray(timing.seconds)
        per["displacement_error"] = np.array(
            [displacement_error(o, m, t) for o, m, t in zip(originals, moved, targets, strict=True)])
        fields = {
            "original_x": [o.nodes[:, 0] for o in originals], "original_y": [o.nodes[:, 1] for o in originals],
            "monge_ampere_x": [t[:, 0] for t in targets], "monge_ampere_y": [t[:, 1] for t in targets],
            "monitor": [sample_values(test, "monitor", i) for i in range(n)],
            "solution": [sample_values(test, "solution", i) for i in range(n)],
        }
        ds = union_dataset(moved, fields, NODE_SPECS, {"moved_by": solver.name})
        for k, v in per.items():
            ds[k] = xr.Variable(("sample",), v.astype(np.float64), SAMPLE_SPECS[k].attrs())
        metrics = {
            "error_reduction": float(np.nanmean(per["error_reduction_model"])),
            "error_reduction_monge_ampere": float(np.nanmean(per["error_reduction_monge_ampere"])),
            "tangled_cells": int(per["tangled_model"].sum()),
            "displacement_error": float(per["displacement_error"].mean()),
            "seconds_per_sample": float(per["seconds_model"].mean()),
        }
        panels = {"test sample 0": (fields["monitor"][0], {
            "original": originals[0], "Monge-Ampere": originals[0].with_nodes(targets[0]), solver.name: moved[0]})}
        title = f"{self.resolved.name} ({solver.name}), test sample 0"
        return RolloutResult(ds, metrics, [Artifact("rollout.png", lambda p: mesh_panels_figure(
            panels, p, title=title))])

    def compare(self, baselines: list[str], models: Sequence) -> ComparisonResult:
        problem, solver, resolved = self.problem, self.solver, self.resolved
        use_case_threads(resolved)
        test = select_split(self.context.data, "test")
        sets = {"test": test, **problem.held_out(test.sizes["sample"], resolved.case.data.seed)}
        rows, per_mesh, figure_rows, artifacts, datasets = [], [], {}, [], {}
        for set_name, ds in sets.items():
            moved = move_set(problem, solver, ds, baselines)
            rows += set_rows(set_name, moved, solver.name)
            for i in range(len(moved.originals)):
                record = {"set": set_name, "index": i, "error_original": moved.error_original[i]}
                for m, s in moved.methods.items():
                    record.update({f"error_{m}": s.errors[i], f"tangled_{m}": s.tangled[i],
                                   f"seconds_{m}": s.seconds[i], f"cpu_seconds_{m}": s.cpu_seconds[i]})
                    if s.iterations:
                        record.update({f"iterations_{m}": s.iterations[i], f"converged_{m}": int(s.converged[i])})
                per_mesh.append(record)
            columns = {"original": moved.originals[0], **{b: moved.methods[b].meshes[0] for b in baselines},
                       solver.name: moved.methods["model"].meshes[0]}
            monitor = np.asarray(moved.monitors[0], np.float64)
            figure_rows[set_name] = (moved.monitors[0], columns)
            artifacts += [Artifact(f"paraview/{set_name}_0_{col}.vtu",
                                   lambda p, mesh=mesh, monitor=monitor: mesh.write(p, {"monitor": monitor}),
                                   figure=False) for col, mesh in columns.items()]
            fields = {"original_x": [o.nodes[:, 0] for o in moved.originals],
                      "original_y": [o.nodes[:, 1] for o in moved.originals], "monitor": moved.monitors}
            specs = dict(NODE_SPECS)
            for b in baselines:
                for a, axis in enumerate("xy"):
                    fields[f"{b}_{axis}"] = [x.nodes[:, a] for x in moved.methods[b].meshes]
                    specs[f"{b}_{axis}"] = FieldSpec(f"{b}_{axis}", "1", f"{axis} of the node moved by {b}")
            datasets[f"meshes_{set_name}.nc"] = union_dataset(moved.methods["model"].meshes, fields, specs, {
                "Conventions": "CF-1.10 UGRID-1.0", "title": f"{resolved.name}: {set_name} meshes moved by "
                f"{solver.name}"})
        artifacts.append(Artifact("meshes.png", lambda p: mesh_panels_figure(
            figure_rows, p, title=f"{resolved.name}: first mesh of each set, coloured by the monitor")))
        stats = xr.Dataset({k: xr.Variable(("mesh",), np.asarray([p[k] for p in per_mesh]), {
            "long_name": k.replace("_", " "), "units": "s" if "seconds" in k else "1"}) for k in per_mesh[0]})
        counts = ", ".join(f"{k} ({v.sizes['sample']} meshes)" for k, v in sets.items())
        return ComparisonResult(
            title=f"{resolved.name}: {solver.name} against {', '.join(baselines) or 'no baseline'}",
            description=f"Sets: {counts}. Hardware: {self.context.hardware}; {solver.name} on {solver.device}, "
                        "Monge-Ampere on the CPU.",
            rows=rows, legend=LEGEND, statistics=stats, artifacts=artifacts, datasets=datasets)
