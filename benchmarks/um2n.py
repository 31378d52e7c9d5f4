"""UM2N against the Monge--Ampere mover on Helmholtz problems (reduced protocol for 2 CPU cores).

Protocol (reduced from Zhang et al., NeurIPS 2024; see docs/backends/um2n.md):

1. Data: the shipped case ``cases/helmholtz_um2n.yaml`` -- anisotropic Gaussian-sum Helmholtz
   solutions on the unit square at h = 0.05 / 0.055 (UM2N: gmsh lc 0.05 / 0.055), Hessian
   monitor 1 + 5 |H|^2 / max, Monge--Ampere (relaxation) targets; ``--n-train`` training meshes
   (paper: 2 x 300 with a 75 / 15 / 10 split).
2. Train UM2N through ``train_case`` (reduced widths and epochs; one torch thread).
3. ``pdesolve compare``: UM2N and the Monge--Ampere mover on the held-out test problems, on an
   unseen resolution (h = 0.04) and on unseen random polygon domains: error reduction of the P1
   solution against a fine-mesh (h = 0.01) solution, tangled cells, time per mesh.
4. Uniform monitor: the trained network on the test meshes with monitor 1 everywhere (the
   mover's fixed point: Monge--Ampere does not move the mesh).

Writes benchmarks/results/um2n.json, um2n.md and um2n_meshes.png.

    .venv/bin/python benchmarks/um2n.py [--epochs 50 --n-train 120] [--run RUN] [--device cuda]
        [--set backend.decoder_widths=[254,508,250,120,20] --set backend.decoder_heads=6 ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy: one BLAS thread, like torch below
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pdesolve.backends.um2n import MeshGraph  # noqa: E402
from pdesolve.config import load_case  # noqa: E402
from pdesolve.data.mesh_samples import sample_mesh  # noqa: E402
from pdesolve.data.samples import select_split  # noqa: E402
from pdesolve.engines.compare import compare_run  # noqa: E402
from pdesolve.engines.data import load_or_generate  # noqa: E402
from pdesolve.engines.runs import RunDir  # noqa: E402
from pdesolve.engines.train import train_case  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
WORK = ROOT / "benchmarks" / "out" / "um2n"
# What the paper claims (the stored copy of arXiv 2407.00382 exposes only its abstract; its
# tables could not be read -- see /work/shared/reference/mesh.md 2.8): UM2N's error reduction on
# Helmholtz close to Monge-Ampere's, no tangling where MA fails, and far faster than MA.
PAPER = {
    "helmholtz_error_reduction": "UM2N close to MA (Table 1; numbers not retrievable here)",
    "tangles": "UM2N: none; MA: fails (tangles) on some non-convex / polygon / coastline cases",
    "time": "UM2N much faster than MA (ms vs s)",
}


def uniform_monitor_displacement(solver, test) -> dict[str, float]:
    """Mean node displacement of the trained network on the test meshes with a uniform monitor
    (fields: monitor 1, Hessian norm 0, solution 0), against its displacement for the true
    monitors and the Monge--Ampere displacement, all relative to the mesh size."""
    constant = {"monitor": 1.0, "hessian_norm": 0.0, "solution": 0.0}
    graphs, h = [], []
    for i in range(test.sizes["sample"]):
        mesh = sample_mesh(test, i)
        features = np.tile([constant[n] for n in solver.setup["inputs"]], (mesh.n_nodes, 1))
        graphs.append(MeshGraph.from_mesh(mesh, features))
        h.append(float(test["mesh_size"].values[i]))
    uniform = solver.move(graphs).nodes
    _, moved, _ = solver.move_dataset(test)
    disp = lambda a, b, hh: float(np.linalg.norm(a - b, axis=1).mean() / hh)  # noqa: E731
    out = {"uniform": [], "true_monitor": [], "monge_ampere": []}
    for i, g in enumerate(graphs):
        x0 = g.coords.numpy().astype(np.float64)
        target = np.stack([test["target_x"].values[i], test["target_y"].values[i]], 1)[: len(x0)]
        out["uniform"].append(disp(uniform[i], x0, h[i]))
        out["true_monitor"].append(disp(moved[i].nodes, x0, h[i]))
        out["monge_ampere"].append(disp(target, x0, h[i]))
    return {k: float(np.mean(v)) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--n-train", type=int, default=120)
    parser.add_argument("--run", help="reuse this trained run instead of training")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (training and the network's timing)")
    parser.add_argument("--set", dest="extra", action="append", default=[], metavar="PATH=VALUE",
                        help="further case overrides, e.g. backend.decoder_heads=6 (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = [
        f"data.cache_dir={WORK / 'data'}",
        f"output.runs_dir={WORK / 'runs'}",
        "train.threads=1",
        f"train.device={args.device}",
        f"train.epochs={args.epochs}",
        f"data.n_train={args.n_train}",
        *args.extra,
    ]
    t0 = time.perf_counter()
    if args.run:
        run = RunDir.open(args.run)
        resolved = run.load_case()
        fit, test_scores = None, json.loads((run.path / "summary.json").read_text())["test"]
    else:
        resolved = load_case(ROOT / "cases" / "helmholtz_um2n.yaml", overrides)
        summary = train_case(resolved, device=args.device)
        run, fit, test_scores = RunDir.open(summary.run_dir), summary.fit, summary.test
    t_train = time.perf_counter() - t0
    comparison = compare_run(run, device=args.device)
    data, data_path, _ = load_or_generate(resolved)
    solver = run.load_solver(args.device)
    uniform = uniform_monitor_displacement(solver, select_split(data, "test"))
    train = select_split(data, "train")
    ma_data = {
        "error_reduction_mean": float((1 - train["error_monge_ampere"] / train["error_original"]).mean()),
        "iterations_mean": float(train["ma_iterations"].mean()),
        "converged": int(train["ma_converged"].sum()),
        "tangled_meshes": int((train["ma_tangled"] > 0).sum()),
        "meshes": int(train.sizes["sample"]),
    }
    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/um2n.py " + " ".join(sys.argv[1:])
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), "
        f"torch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "command": command,
        "run": str(run.path),
        "data": str(data_path),
        "case": resolved.case.model_dump(mode="json"),
        "parameters": solver.n_parameters(),
        "train_seconds": t_train if fit is not None else None,
        "fit": fit.to_dict() if fit is not None else None,
        "test_scores": test_scores,
        "compare": comparison.rows,
        "uniform_monitor_displacement_over_h": uniform,
        "monge_ampere_training_data": ma_data,
        "paper": PAPER,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "um2n.json").write_text(json.dumps(result, indent=2))
    figure = comparison.out_dir / "meshes.png"
    if figure.is_file():
        shutil.copyfile(figure, OUT / "um2n_meshes.png")
    (OUT / "um2n.md").write_text(report(result))
    print((OUT / "um2n.md").read_text())


def report(r: dict) -> str:
    c = r["case"]
    lines = [
        "## UM2N vs Monge-Ampere (Helmholtz, reduced protocol)",
        "",
        f"- date: {r['date']}; machine: {r['machine']}; torch threads: {r['threads']}",
        f"- command: `{r['command']}`",
        f"- data: {c['data']['n_train']} training / {c['data']['n_val']} validation / "
        f"{c['data']['n_test']} test "
        f"meshes, h = {c['problem']['mesh_sizes']} (paper: 2 x 300 meshes at lc 0.05 / 0.055); held-out: "
        f"{c['data']['n_test']} meshes at h = {c['problem']['unseen_mesh_size']} and {c['data']['n_test']} "
        "random polygon domains",
        f"- model: decoder widths {c['backend']['decoder_widths']} x {c['backend']['decoder_heads']} heads "
        f"(released: [254, 508, 250, 120, 20] x 6), {r['parameters']} parameters; inputs "
        f"{c['backend']['node_inputs']}; loss {c['backend']['coord_weight']} x coordinate + "
        f"{c['backend']['area_weight']} x area + {c['backend']['chamfer_weight']} x Chamfer; "
        f"{c['train']['epochs']} epochs, Adam lr {c['train']['lr']} (released: 1000 epochs, lr 5e-5)",
        "",
        "| set | method | meshes | nodes | error reduction (mean +- std) | tangled cells (meshes) | "
        "s / mesh (wall) | CPU s / mesh | MA iterations |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["compare"]:
        it = "" if row["iterations"] != row["iterations"] else f"{row['iterations']:.0f}"
        lines.append(
            f"| {row['set']} | {row['method']} | {row['meshes']} | {row['nodes']:.0f} | "
            f"{100 * row['error_reduction']:.1f} % +- {100 * row['error_reduction_std']:.1f} | "
            f"{row['tangled_cells']} ({row['tangled_meshes']}) | {row['seconds_per_mesh']:.3g} | "
            f"{row['cpu_seconds_per_mesh']:.3g} | {it} |"
        )
    u, ma = r["uniform_monitor_displacement_over_h"], r["monge_ampere_training_data"]
    lines += [
        "",
        f"Monge-Ampere on the {ma['meshes']} training meshes: error reduction "
        f"{100 * ma['error_reduction_mean']:.1f} %, "
        f"{ma['iterations_mean']:.0f} iterations on average, {ma['converged']} converged, "
        f"{ma['tangled_meshes']} tangled.",
        "",
        f"Uniform monitor (Monge-Ampere's fixed point, where it moves nothing): UM2N moves nodes by "
        f"{u['uniform']:.3f} h on average, against {u['true_monitor']:.3f} h for the true monitors "
        f"(Monge-Ampere: {u['monge_ampere']:.3f} h).",
        "",
        "Paper (Zhang et al. 2024): " + "; ".join(f"{k}: {v}" for k, v in r["paper"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
