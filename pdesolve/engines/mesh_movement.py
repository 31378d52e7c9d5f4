"""Rollout and comparison for ``mesh`` problems (learned mesh movement, UM2N).

A ``mesh`` problem (`pdesolve.problems.helmholtz_mesh`) provides: `mesh_errors(ds, i, meshes)`
(the PDE solution's error on the original and on moved meshes against a fine-mesh solution),
`sample_problem(ds, i)`, `held_out(n, seed)` (generalisation sets: an unseen resolution, unseen
polygon domains) and the `monge_ampere` baseline (``move(problem, mesh, sample)``).

* `mesh_rollout` moves every test mesh with the model and returns the moved meshes as one
  UGRID-1.0 mesh (the disjoint union of the test meshes, ``node_sample(node)``; see
  `pdesolve.data.mesh_samples.union_dataset`) with the original and Monge--Ampere coordinates,
  the monitor and the solution as node fields, plus per-sample errors, error reductions, tangled
  cells and times.
* `compare_mesh_movement` runs the model and the Monge--Ampere mover on the test split and on
  the held-out sets: error reduction, tangled elements, time per mesh (and iterations), a figure
  of original / MA / model meshes coloured by the monitor, ParaView ``.vtu`` files and UGRID
  netCDF of the moved meshes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import xarray as xr  # noqa: E402

from pdesolve.data.fields import FieldSpec  # noqa: E402
from pdesolve.data.mesh import Mesh  # noqa: E402
from pdesolve.data.mesh_samples import sample_values, union_dataset  # noqa: E402
from pdesolve.data.netcdf import atomic_replace, write_netcdf  # noqa: E402
from pdesolve.data.samples import select_split  # noqa: E402
from pdesolve.engines.data import load_or_generate  # noqa: E402
from pdesolve.engines.device import describe  # noqa: E402
from pdesolve.numerics.monge_ampere import tangled_cells  # noqa: E402
from pdesolve.version import __version__  # noqa: E402

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
        "error_reduction_monge_ampere", "1", "1 - error_monge_ampere / error_original"
    ),
    "tangled_model": FieldSpec("tangled_model", "1", "inverted cells of the model's mesh"),
    "seconds_model": FieldSpec("seconds_model", "s", "model forward time for the mesh"),
    "displacement_error": FieldSpec(
        "displacement_error", "1", "|x_model - x_MA| / |x_MA - x_original| over the nodes"
    ),
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


def mesh_rollout(resolved, solver, test: xr.Dataset, steps: int | None):
    """The model's meshes for the test split as one UGRID union (see the module docstring)."""
    problem = resolved.problem
    use_case_threads(resolved)
    originals, moved, timing = solver.move_dataset(test)
    n = len(moved)
    targets = [_targets(test, i) for i in range(n)]
    errors = [
        problem.mesh_errors(test, i, {"model": moved[i], "monge_ampere": originals[i].with_nodes(targets[i])})
        for i in range(n)
    ]
    per = {
        k: np.array([e[k.removeprefix("error_")] for e in errors])
        for k in ("error_original", "error_model", "error_monge_ampere")
    }
    per["error_reduction_model"] = 1 - per["error_model"] / per["error_original"]
    per["error_reduction_monge_ampere"] = 1 - per["error_monge_ampere"] / per["error_original"]
    per["tangled_model"] = np.array(
        [tangled_cells(o, m.nodes) for o, m in zip(originals, moved, strict=True)]
    )
    per["seconds_model"] = np.asarray(timing.seconds)
    per["displacement_error"] = np.array(
        [displacement_error(o, m, t) for o, m, t in zip(originals, moved, targets, strict=True)]
    )
    fields = {
        "original_x": [o.nodes[:, 0] for o in originals],
        "original_y": [o.nodes[:, 1] for o in originals],
        "monge_ampere_x": [t[:, 0] for t in targets],
        "monge_ampere_y": [t[:, 1] for t in targets],
        "monitor": [sample_values(test, "monitor", i) for i in range(n)],
        "solution": [sample_values(test, "solution", i) for i in range(n)],
    }
    ds = union_dataset(moved, fields, NODE_SPECS, {"moved_by": solver.name})
    for k, v in per.items():
        ds[k] = xr.Variable(("sample",), v.astype(np.float64), SAMPLE_SPECS[k].attrs())
    metrics = {
        "steps": 1,
        "rollout_rel_l2": float(per["displacement_error"].mean()),
        "final_step_rel_l2": float(per["displacement_error"].mean()),
        "error_reduction": float(np.nanmean(per["error_reduction_model"])),
        "error_reduction_monge_ampere": float(np.nanmean(per["error_reduction_monge_ampere"])),
        "tangled_cells": int(per["tangled_model"].sum()),
        "seconds_per_sample": float(per["seconds_model"].mean()),
        "stopped": None,
    }
    panels = {
        "test sample 0": (
            fields["monitor"][0],
            {
                "original": originals[0],
                "Monge-Ampere": originals[0].with_nodes(targets[0]),
                solver.name: moved[0],
            },
        )
    }
    return ds, metrics, (panels,), "monitor"


def mesh_panels_figure(
    rows: dict[str, tuple[np.ndarray, dict[str, Mesh]]], path: Path, *, name: str = "monitor", title: str = ""
) -> Path:
    """One row per entry: meshes (columns) with the same topology, coloured by the nodal ``name``
    values (``rows[label] = (values, {column: mesh})``), edges drawn."""
    n_cols = max(len(m) for _, m in rows.values())
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(3.6 * n_cols, 3.4 * len(rows)), squeeze=False)
    for r, (label, (values, meshes)) in enumerate(rows.items()):
        for c, (col, mesh) in enumerate(meshes.items()):
            ax = axes[r, c]
            x, y = mesh.nodes[:, 0], mesh.nodes[:, 1]
            im = ax.tripcolor(x, y, mesh.cells, values, shading="gouraud", cmap="viridis")
            ax.triplot(x, y, mesh.cells, color="k", linewidth=0.25)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}: {col}", fontsize=9)
        fig.colorbar(im, ax=list(axes[r, : len(meshes)]), shrink=0.8, label=name)
    if title:
        fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_replace(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def move_set(problem, solver, ds: xr.Dataset, baselines: list[str]) -> dict[str, list]:
    """The model (and each baseline) on every sample of ``ds``: per sample, the original and moved
    meshes, errors, tangled cells, seconds and (baselines) iterations."""
    available = problem.baselines()
    originals, moved, timing = solver.move_dataset(ds)
    out: dict[str, list] = {
        "original": originals,
        "monitor": [sample_values(ds, "monitor", i) for i in range(len(moved))],
        "mesh_model": moved,
        "seconds_model": timing.seconds,
        "cpu_seconds_model": timing.cpu_seconds,
    }
    for b in baselines:
        results = [
            available[b].move(problem, originals[i], problem.sample_problem(ds, i)) for i in range(len(moved))
        ]
        out[f"mesh_{b}"] = [o.with_nodes(r.nodes) for o, r in zip(originals, results, strict=True)]
        out[f"seconds_{b}"] = [r.seconds for r in results]
        out[f"cpu_seconds_{b}"] = [r.cpu_seconds for r in results]
        out[f"iterations_{b}"] = [r.iterations for r in results]
        out[f"converged_{b}"] = [int(r.converged) for r in results]
    methods = ["model", *baselines]
    errors = [
        problem.mesh_errors(ds, i, {m: out[f"mesh_{m}"][i] for m in methods}) for i in range(len(moved))
    ]
    out["error_original"] = [e["original"] for e in errors]
    for m in methods:
        out[f"error_{m}"] = [e[m] for e in errors]
        out[f"tangled_{m}"] = [
            tangled_cells(o, x.nodes) for o, x in zip(originals, out[f"mesh_{m}"], strict=True)
        ]
    return out


def compare_mesh_movement(
    resolved, solver, baselines: list[str], device, out_dir: Path
) -> tuple[list[dict], str, xr.Dataset, list[Path]]:
    """The model against ``baselines`` on the test split and the problem's held-out sets.

    Returns the table rows (one per set and method), a markdown header, the per-mesh statistics
    and the extra files written in ``out_dir`` (figure, ``.vtu``, UGRID netCDF)."""
    problem = resolved.problem
    use_case_threads(resolved)
    data, _, _ = load_or_generate(resolved)
    test = select_split(data, "test")
    sets = {"test": test, **problem.held_out(test.sizes["sample"], resolved.case.data.seed)}
    methods = ["model", *baselines]
    rows, files, per_mesh, figure_rows = [], [], [], {}
    for set_name, ds in sets.items():
        r = move_set(problem, solver, ds, baselines)
        e0 = np.asarray(r["error_original"])
        nodes = float(np.mean([m.n_nodes for m in r["original"]]))
        for m in methods:
            er = 1 - np.asarray(r[f"error_{m}"]) / e0
            defined = er[np.isfinite(er)]  # a tangled mesh has no error (NaN)
            tangles = np.asarray(r[f"tangled_{m}"])
            rows.append(
                {
                    "set": set_name,
                    "method": solver.name if m == "model" else m,
                    "meshes": len(e0),
                    "nodes": nodes,
                    "error_reduction": float(defined.mean()) if defined.size else float("nan"),
                    "error_reduction_std": float(defined.std()) if defined.size else float("nan"),
                    "error_meshes": int(defined.size),
                    "tangled_cells": int(tangles.sum()),
                    "tangled_meshes": int((tangles > 0).sum()),
                    "seconds_per_mesh": float(np.mean(r[f"seconds_{m}"])),
                    "cpu_seconds_per_mesh": float(np.mean(r[f"cpu_seconds_{m}"])),
                    "iterations": float(np.mean(r[f"iterations_{m}"])) if m != "model" else float("nan"),
                    "unconverged_meshes": (
                        int(len(e0) - np.sum(r[f"converged_{m}"])) if m != "model" else float("nan")
                    ),
                }
            )
        for i in range(len(e0)):
            per_mesh.append(
                {
                    "set": set_name,
                    "index": i,
                    "error_original": e0[i],
                    **{
                        f"{k}_{m}": float(r[f"{k}_{m}"][i])
                        for m in methods
                        for k in ("error", "tangled", "seconds", "cpu_seconds")
                    },
                    **{
                        f"{k}_{b}": float(r[f"{k}_{b}"][i])
                        for b in baselines
                        for k in ("iterations", "converged")
                    },
                }
            )
        columns = {
            "original": r["original"][0],
            **{b: r[f"mesh_{b}"][0] for b in baselines},
            solver.name: r["mesh_model"][0],
        }
        figure_rows[set_name] = (r["monitor"][0], columns)
        for col, mesh in columns.items():
            files.append(
                mesh.write(
                    out_dir / "paraview" / f"{set_name}_0_{col}.vtu",
                    {"monitor": np.asarray(r["monitor"][0], np.float64)},
                )
            )
        moved_fields = {
            "original_x": [o.nodes[:, 0] for o in r["original"]],
            "original_y": [o.nodes[:, 1] for o in r["original"]],
            "monitor": r["monitor"],
        }
        for b in baselines:
            moved_fields.update(
                {
                    f"{b}_x": [x.nodes[:, 0] for x in r[f"mesh_{b}"]],
                    f"{b}_y": [x.nodes[:, 1] for x in r[f"mesh_{b}"]],
                }
            )
        specs = {
            **NODE_SPECS,
            **{
                f"{b}_{a}": FieldSpec(f"{b}_{a}", "1", f"{a} of the node moved by {b}")
                for b in baselines
                for a in "xy"
            },
        }
        files.append(
            write_netcdf(
                union_dataset(
                    r["mesh_model"],
                    moved_fields,
                    specs,
                    {
                        "Conventions": "CF-1.10",
                        "title": f"{resolved.name}: {set_name} meshes moved by {solver.name}",
                        "source": f"pdesolve {__version__}",
                    },
                ),
                out_dir / f"meshes_{set_name}.nc",
            )
        )
    if resolved.case.output.figures:
        files.append(
            mesh_panels_figure(
                figure_rows,
                out_dir / "meshes.png",
                title=f"{resolved.name}: first mesh of each set, coloured by the monitor",
            )
        )
    hardware = describe(torch.device(device))
    counts = ", ".join(f"{k} ({v.sizes['sample']} meshes)" for k, v in sets.items())
    header = (
        f"# {resolved.name}: {solver.name} against {', '.join(baselines) or 'no baseline'}\n\n"
        f"Sets: {counts}. Error "
        "reduction = 1 - e_moved / e_original (mean and std over the error_meshes meshes whose moved "
        "mesh is untangled: a tangled mesh has no P1 solution), e = L2 error of the P1 solution "
        "against a fine-mesh solution; tangled = inverted cells; unconverged = Monge-Ampere runs that "
        "hit maxiter or diverged (their last iterate is used); seconds per mesh (wall, "
        "and this process's CPU time, which a busy shared machine inflates less): "
        f"{solver.name} forward pass on {solver.device} (one mesh per call), Monge-Ampere relaxation "
        f"with the PDE re-solved on every iterate, on the CPU. Hardware: {hardware}.\n\n"
    )
    stats = xr.Dataset(
        {
            k: xr.Variable(
                ("mesh",),
                np.asarray([p[k] for p in per_mesh]),
                {"long_name": k.replace("_", " "), "units": "s" if "seconds" in k else "1"},
            )
            for k in per_mesh[0]
        },
        attrs={
            "Conventions": "CF-1.10",
            "title": f"{resolved.name}: per-mesh statistics",
            "source": f"pdesolve {__version__}",
            "hardware": hardware,
        },
    )
    return rows, header, stats, files
