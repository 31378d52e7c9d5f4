"""Rollout and comparison for ``mesh_map`` problems (geometry -> fields, one mesh per sample).

`mesh_map_rollout` predicts every test sample and returns its fields, the reference and the
input geometry fields as one UGRID-1.0 mesh, the disjoint union of the test meshes with
``node_sample(node)`` (`pdesolve.data.mesh_samples.union_dataset`), plus ``rel_l2_error(sample)``.
`compare_mesh_map` runs the model and the problem's `MeshBaseline`s on the test split
(`pdesolve.engines.compare` writes its table).
"""

from __future__ import annotations

import time
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
from pdesolve.engines.data import load_or_generate  # noqa: E402
from pdesolve.engines.device import describe  # noqa: E402
from pdesolve.version import __version__  # noqa: E402

ERROR_SPEC = FieldSpec("rel_l2_error", "1", "relative L2 error of the prediction over the sample's nodes")


def reference_spec(spec: FieldSpec) -> FieldSpec:
    return FieldSpec(f"{spec.name}_reference", spec.units, f"reference {spec.long_name}", spec.standard_name)


def relative_errors(pred: list[np.ndarray], ref: list[np.ndarray]) -> np.ndarray:
    """Per-sample relative L2 error of ``(n_i, c)`` (or ``(n_i,)``) arrays, ``(samples,)``."""
    return np.array([np.linalg.norm(np.asarray(p, np.float64) - r) / max(np.linalg.norm(r), 1e-12)
                     for p, r in zip(pred, ref, strict=True)])


def _per_sample(ds: xr.Dataset, names: list[str]) -> list[np.ndarray]:
    return [np.stack([sample_values(ds, n, i) for n in names], axis=1).astype(np.float64)
            for i in range(ds.sizes["sample"])]


def mesh_map_rollout(resolved, solver, test: xr.Dataset, steps: int | None):
    """Predictions on the test meshes as one UGRID union (see the module docstring)."""
    problem = resolved.problem
    names = list(solver.setup["outputs"])
    inputs = list(solver.setup["inputs"])
    t0 = time.perf_counter()
    pred_ds = solver.solve(problem, test)
    seconds = (time.perf_counter() - t0) / test.sizes["sample"]
    meshes = [sample_mesh(test, i) for i in range(test.sizes["sample"])]
    pred, ref = _per_sample(pred_ds, names), _per_sample(test, names)
    err = relative_errors(pred, ref)
    fields = {n: [p[:, c] for p in pred] for c, n in enumerate(names)}
    fields.update({f"{n}_reference": [r[:, c] for r in ref] for c, n in enumerate(names)})
    fields.update({n: [sample_values(test, n, i) for i in range(len(meshes))] for n in inputs})
    specs = {**problem.fields, **{f"{n}_reference": reference_spec(problem.fields[n]) for n in names}}
    ds = union_dataset(meshes, fields, specs)
    ds[ERROR_SPEC.name] = xr.Variable(("sample",), err.astype(np.float32), ERROR_SPEC.attrs())
    metrics = {"steps": 1, "rollout_rel_l2": float(err.mean()), "final_step_rel_l2": float(err.mean()),
               "seconds_per_sample": seconds, "stopped": None}
    return ds, metrics, (meshes[0], ref[0][:, 0], pred[0][:, 0]), names[0]


def mesh_map_figure(mesh: Mesh, reference: np.ndarray, prediction: np.ndarray, path: Path, *,
                    name: str, title: str) -> Path:
    """Reference, prediction and error of one sample on its mesh (``tripcolor``)."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    lo, hi = float(reference.min()), float(reference.max())
    err = prediction - reference
    emax = float(np.abs(err).max()) or 1.0
    panels = (("reference", reference, "viridis", lo, hi), ("prediction", prediction, "viridis", lo, hi),
              ("error", err, "RdBu_r", -emax, emax))
    for ax, (label, values, cmap, vmin, vmax) in zip(axes, panels, strict=True):
        im = ax.tripcolor(mesh.nodes[:, 0], mesh.nodes[:, 1], mesh.cells, values, shading="gouraud",
                          cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_aspect("equal")
        ax.set_title(f"{label}: {name}")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_replace(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
    return path


def compare_mesh_map(resolved, solver, baselines: list[str], device) -> tuple[list[dict], str, xr.Dataset]:
    """The model and each `MeshBaseline` on the test split: relative L2 and time per sample.

    Returns the table rows, a markdown header and the per-sample errors as a dataset."""
    problem = resolved.problem
    data, _, _ = load_or_generate(resolved)
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
    errors = {k: relative_errors(p, ref) for k, (p, _) in predictions.items()}
    rows = [{"method": k, "test_rel_l2": float(errors[k].mean()), "seconds_per_sample": s}
            for k, (_, s) in predictions.items()]
    hardware = describe(torch.device(device))
    header = (f"# {resolved.name}: {solver.name} against {', '.join(baselines) or 'no baseline'}\n\n"
              f"Test samples: {n} unseen geometries, each on its own mesh; relative L2 over the nodes, "
              f"mean over samples; hardware: {hardware}.\n\n")
    stats = xr.Dataset({f"error_{k}": xr.Variable(("sample",), e.astype(np.float32), ERROR_SPEC.attrs())
                        for k, e in errors.items()},
                       attrs={"Conventions": "CF-1.10", "title": f"{resolved.name} errors per test sample",
                              "source": f"pdesolve {__version__}", "hardware": hardware})
    return rows, header, stats
