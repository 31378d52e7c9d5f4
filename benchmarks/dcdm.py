"""DCDM against CG, IC(0)-PCG and AMG-PCG on Poisson systems with unseen random obstacles.

Protocol (reduced from Kaneda et al., ICML 2023; see docs/backends/dcdm.md):

1. Train DCDM with the shipped cases (2-D at 64^2, 3-D at 32^3) through `train_case`, i.e.
   ``pdesolve train cases/poisson_dcdm_<d>d.yaml`` (about an hour each on one shared CPU core), or
   reuse trained runs with --run2d/--run3d (how the published figures were made).
2. Reuse each network unchanged on new geometries (seed 1000, never seen in training) at 64^2,
   128^2, 256^2 and 32^3, 64^3; right-hand side: minus the divergence of a random velocity.
3. Solve with every method (DCDM with the paper's k = 2 and with k = 10) to relative residual
   1e-6 (iterations and times to 1e-4 read from the
   same run), counting matvecs and network/preconditioner calls, setup apart from solve.

Writes benchmarks/results/dcdm.json, dcdm.md and dcdm_residuals_<dim>d_<n>.png.

    .venv/bin/python benchmarks/dcdm.py [--run2d RUN --run3d RUN] [--epochs2d E --epochs3d E]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy: one BLAS thread, like torch below
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from pdesolve.config import load_case  # noqa: E402
from pdesolve.engines import figures  # noqa: E402
from pdesolve.engines.linear import TOLERANCES, history_curves, run_methods, summary_row  # noqa: E402
from pdesolve.engines.runs import RunDir  # noqa: E402
from pdesolve.engines.train import train_case  # noqa: E402
from pdesolve.numerics.random_fields import sample_seed  # noqa: E402
from pdesolve.problems.poisson_obstacles import PoissonObstacles  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"
SIZES = {2: (64, 128, 256), 3: (32, 64)}
TEST_SEED = 1000
WINDOW = 10  # the reference notes found k = 10 needed by a CPU-trained network (solvers.md 5.3)
# network calls dominate DCDM's cost on a CPU: test geometries and DCDM iteration caps per size
SYSTEMS = {(2, 64): 4, (2, 128): 2, (2, 256): 2, (3, 32): 2, (3, 64): 1}
DCDM_CAP = {(2, 64): 1000, (2, 128): 600, (2, 256): 400, (3, 32): 200, (3, 64): 100}
BASELINE_CAP = 5000
# from the reference notes (solvers.md section 4.3/5.3, own measurements, not the paper's)
NOTES = {(2, 64): "64^2 disk+stub: CG 249-252, IC 75-76, SA-AMG-PCG 5 (to 1e-4)",
         (3, 32): "32^3 sphere: CG 151, IC 49, SA-AMG-PCG 5 (1e-4); 203/72/7 (1e-6)",
         (3, 64): "64^3 sphere: CG 282, IC 92, SA-AMG-PCG 6 (1e-4); 384/128/8 (1e-6)"}


class LongerWindow:
    """DCDM with its network unchanged but a longer A-orthogonalisation window ``k``."""

    def __init__(self, solver, k: int):
        self.solver, self.orthogonalize, self.name = solver, k, f"{solver.name}_k{k}"

    @property
    def device(self):
        return self.solver.device

    def prepare(self, system):
        return self.solver.prepare(system)


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
             if line.startswith("model name")] if info.is_file() else []
    return names[0] if names else platform.machine()


def train_or_load(dim: int, epochs: int | None, run: str | None) -> RunDir:
    if run:
        return RunDir.open(run)
    overrides = ["train.device=cpu", "train.threads=1"] + ([f"train.epochs={epochs}"] if epochs else [])
    case = load_case(ROOT / "cases" / f"poisson_dcdm_{dim}d.yaml", overrides)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    summary = train_case(case, run_dir=ROOT / "runs" / f"bench-dcdm-{dim}d-{stamp}", device="cpu",
                         rollout=False)
    return RunDir.open(summary.run_dir)


def test_systems(problem: PoissonObstacles, n: int):
    systems, rhs = [], []
    for i in range(n):
        system = problem.system(problem.fluid_mask(TEST_SEED, i))
        systems.append(system)
        rhs.append(problem.divergence_rhs(system, np.random.default_rng(sample_seed(TEST_SEED, i, "rhs"))))
    return systems, rhs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs2d", type=int, help="train the 2-D case this long (default: the case's)")
    parser.add_argument("--epochs3d", type=int, help="train the 3-D case this long (default: the case's)")
    parser.add_argument("--run2d")
    parser.add_argument("--run3d")
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=[2, 3])
    parser.add_argument("--sizes", type=int, nargs="+", help="only these N (rows of other sizes already in "
                                                            "dcdm.json are kept)")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite dcdm.md from dcdm.json")
    args = parser.parse_args()
    saved = json.loads((OUT / "dcdm.json").read_text()) if (OUT / "dcdm.json").is_file() else None
    if args.markdown_only:
        write_markdown(saved["meta"], saved["rows"], sorted(OUT.glob("dcdm_residuals_*.png")))
        return
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    todo = {(d, n) for d in args.dims for n in SIZES[d] if args.sizes is None or n in args.sizes}
    keep = saved is not None and "commands" in saved["meta"]
    rows = [r for r in saved["rows"] if (r["dim"], r["n"]) not in todo] if keep else []
    meta = saved["meta"] if keep else {"training": {}, "commands": {}}
    command = " ".join([".venv/bin/python", *sys.argv])
    for dim in args.dims:
        t0 = time.perf_counter()
        run = train_or_load(dim, args.epochs2d if dim == 2 else args.epochs3d, getattr(args, f"run{dim}d"))
        solver = run.load_solver("cpu")
        resolved = run.load_case()
        metrics = run.metrics()
        p, train = resolved.problem.params, resolved.case.train
        vectors = resolved.case.data.n_train * p.rhs_per_system
        meta["training"][f"{dim}d"] = {
            "run": str(run.path), "epochs": len(metrics),
            "adam_steps": len(metrics) * math.ceil(vectors / train.batch_size),
            "batch_size": train.batch_size, "lr": train.lr, "schedule": train.schedule,
            "training_vectors": vectors, "geometries": resolved.case.data.n_train,
            "lanczos_steps": p.lanczos_steps, "resolution": p.resolution,
            "train_seconds": sum(m["seconds"] for m in metrics),
            "final_train_loss": metrics[-1]["train_loss"] if metrics else None,
            "final_val_loss": metrics[-1]["val_rel_l2"] if metrics else None,
            "wall_seconds_incl_data": time.perf_counter() - t0}
        params = p.model_dump()
        for n in SIZES[dim]:
            if (dim, n) not in todo:
                continue
            t_size = time.perf_counter()
            problem = PoissonObstacles({**params, "resolution": n})
            systems, rhs = test_systems(problem, SYSTEMS[(dim, n)])
            baselines = list(problem.baselines().values())
            reports = run_methods(baselines, systems, rhs, rtol=TOLERANCES[-1], max_iter=BASELINE_CAP)
            learned = [solver, LongerWindow(solver, WINDOW)]
            reports.update(run_methods(learned, systems, rhs, rtol=TOLERANCES[-1],
                                       max_iter=DCDM_CAP[(dim, n)]))
            for name, rs in reports.items():
                cap = DCDM_CAP[(dim, n)] if name.startswith(solver.name) else BASELINE_CAP
                rows.append({"dim": dim, "n": n, "unknowns": float(np.mean([s.size for s in systems])),
                             "trained_at": p.resolution, "cap": cap, **summary_row(name, rs)})
                print(json.dumps(rows[-1]), flush=True)
            figures.residual_histories(
                history_curves(reports), OUT / f"dcdm_residuals_{dim}d_{n}.png",
                title=f"{dim}-D {n}^{dim}, unseen obstacles (DCDM trained at {p.resolution}^{dim})",
                tolerances=TOLERANCES)
            meta["commands"][f"{n}^{dim}"] = {
                "command": command, "seconds": time.perf_counter() - t_size,
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    rows.sort(key=lambda r: (r["dim"], r["n"]))
    meta.update({"machine": f"{cpu_name()}, {os.cpu_count()} cores (shared)",
                 "torch_threads": torch.get_num_threads()})
    (OUT / "dcdm.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    write_markdown(meta, rows, sorted(OUT.glob("dcdm_residuals_*.png")))


def fmt(v) -> str:
    if isinstance(v, float):
        return "–" if np.isnan(v) else f"{v:.3g}"
    return str(v)


def _by_size(rows: list[dict]) -> dict[tuple[int, int], dict[str, dict]]:
    out: dict = {}
    for r in rows:
        out.setdefault((r["dim"], r["n"]), {})[r["method"]] = r
    return out


def _all_reached(row: dict, tol: str) -> bool:
    done, total = row[f"reached_{tol}"].split("/")
    return done == total


def _best_learned(methods: dict[str, dict], tol: str) -> dict | None:
    """The DCDM variant with the fewest iterations to ``tol`` among those that reached it on every
    system (``None`` if none did)."""
    done = [r for name, r in methods.items() if name.startswith("dcdm") and _all_reached(r, tol)]
    return min(done, key=lambda r: r[f"iterations_{tol}"]) if done else None


def verdict(rows: list[dict]) -> str:
    """Honest sentences on the paper's claimed ordering, computed from the measured rows."""
    sizes = _by_size(rows)
    tol = "1e-04"
    beats_ic, beats_cg_only, fails = [], [], []
    for (dim, n), methods in sizes.items():
        best = _best_learned(methods, tol)
        if best is None:
            fails.append(f"{n}^{dim}")
            continue
        its, cg, ic = (m[f"iterations_{tol}"] for m in (best, methods["cg"], methods["ic_pcg"]))
        text = f"{n}^{dim} ({best['method']} {its:.0f}, CG {cg:.0f}, IC(0) {ic:.0f})"
        (beats_ic if its < ic else beats_cg_only if its < cg else fails).append(text)
    growth, slower = [], []
    for dim in sorted({d for d, _ in sizes}):
        ns = sorted(n for d, n in sizes if d == dim)
        if len(ns) < 2:
            continue
        lo, hi = sizes[(dim, ns[0])], sizes[(dim, ns[-1])]
        ratio = {m: hi[m][f"iterations_{tol}"] / lo[m][f"iterations_{tol}"] for m in lo
                 if _all_reached(lo[m], tol) and _all_reached(hi[m], tol)}
        growth.append(f"{dim}-D {ns[0]}^{dim} -> {ns[-1]}^{dim}: "
                      + ", ".join(f"{m} x{ratio[m]:.1f}" if m in ratio else f"{m} –" for m in lo))
        learned = [ratio[m] for m in ratio if m.startswith("dcdm")]
        slower.append(bool(learned) and min(learned) < ratio.get("cg", np.inf))
    if beats_ic and not fails and not beats_cg_only and all(slower):
        claim = "reproduced"
    elif beats_ic or beats_cg_only:
        claim = "partly reproduced"
    else:
        claim = "not reproduced"
    def winner(methods: dict[str, dict], cost) -> str:
        return min(methods.values(), key=lambda r: np.nan_to_num(cost(r), nan=np.inf))["method"]

    fewest = [f"{n}^{d} {winner(ms, lambda r: r['iterations_1e-06'])}" for (d, n), ms in sizes.items()]
    fastest = [f"{n}^{d} {winner(ms, lambda r: r['solve_s_1e-06'] + r['setup_s'])}"
               for (d, n), ms in sizes.items()]
    return "\n".join([
        f"The paper's claimed ordering (DCDM needing far fewer iterations than CG and IC-PCG, with a count "
        f"that grows slowly with size) was **{claim}** at this reduced scale. Iterations to 1e-4, DCDM with "
        f"its better k: fewer than IC(0)-PCG at {'; '.join(beats_ic) or 'no size'}; fewer than CG only at "
        f"{'; '.join(beats_cg_only) or 'no size'}; not fewer than CG or not converged within the cap at "
        f"{'; '.join(fails) or 'no size'}.", "",
        "Growth of the iterations to 1e-4 from the smallest to the largest size: " + "; ".join(growth) + ".",
        "", f"Fewest iterations to 1e-6: {', '.join(fewest)}. Lowest setup + solve time to 1e-6: "
        f"{', '.join(fastest)}."])


def write_markdown(meta: dict, rows: list[dict], pngs: list[Path]) -> None:
    cols = ["dim", "n", "unknowns", "method", "reached_1e-04", "iterations_1e-04", "solve_s_1e-04",
            "reached_1e-06", "iterations_1e-06", "solve_s_1e-06", "setup_s", "matvecs", "direction_calls",
            "first_step_loss", "final_residual"]
    training = "; ".join(
        f"{k} (trained at {v['resolution']}^{k[0]}): {v['adam_steps']} Adam steps of batch {v['batch_size']} "
        f"(lr {v['lr']:g}, {v['schedule']}; {v['training_vectors']} Ritz-vector right-hand sides on "
        f"{v['geometries']} geometries, {v['lanczos_steps']} Lanczos vectors each), "
        f"{v['train_seconds'] / 60:.0f} min; "
        f"final one-step loss {fmt(v['final_train_loss'])} (training vectors, last epoch mean), "
        f"{fmt(v['final_val_loss'])} (held-out geometries); run `{v['run']}`"
        for k, v in meta["training"].items())
    lines = ["## DCDM (Kaneda et al., ICML 2023) against CG, IC(0)-PCG and AMG-PCG", "",
             f"Machine: {meta['machine']}; torch threads {meta['torch_threads']}, one BLAS thread.", "",
             "Commands (one row of sizes each; wall time includes all methods):", "",
             *[f"- {size}: `{c['command']}` ({c['date']}, {c['seconds'] / 60:.0f} min)"
               for size, c in meta["commands"].items()], "",
             f"Training (CPU, one thread, `pdesolve train cases/poisson_dcdm_<d>d.yaml`): {training}.", "",
             "Test systems: new random obstacle geometries (seed 1000, not seen in training), right-hand "
             "side = minus the divergence of a random velocity, x0 = 0; each network is reused unchanged "
             "at the larger sizes. Iterations and times are means over the systems that reached the "
             "tolerance (`reached`); DCDM's iterations are capped (`cap`), the baselines' at 5000. Setup: "
             "IC(0) factorisation, AMG hierarchy or operator build; `direction_calls` are network, "
             "preconditioner or identity applications; `first_step_loss` = ||r_1||^2/||b||^2, the DCDM "
             "loss of the first direction on the test right-hand side. `dcdm` uses the paper's k = 2, "
             "`dcdm_k10` k = 10.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    lines += ["", verdict(rows), "",
              "Paper figures: the DCDM paper's tables (iterations/time at 64^3-256^3) could not be retrieved "
              "(see shared/reference/solvers.md §3.6, §6); its claim is DCDM reaching 1e-4 in "
              "tens of iterations where CG needs hundreds, with counts nearly independent of size. "
              "Anchors measured for the notes on similar systems: " + "; ".join(NOTES.values()) + "; "
              "their 2-D DCDM re-implementation (6,000 steps, one geometry): k = 2 68-500 (often capped), "
              "k = 10 68-104 to 1e-4 at 64^2 (§5.3).", "",
              "Figures: " + ", ".join(f"`{p.name}`" for p in pngs), ""]
    (OUT / "dcdm.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
