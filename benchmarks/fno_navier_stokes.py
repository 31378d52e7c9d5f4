"""The FNO paper's Navier-Stokes benchmark (nu = 1e-3, 64x64, 10 input frames -> roll out to
t = 50), reduced to what 2 CPU cores manage, run through the real `pdesolve train` path.

    python benchmarks/fno_navier_stokes.py --n-train 200 --epochs 30

Writes benchmarks/results/fno_navier_stokes.{json,md}. Paper (Li et al. 2021, FNO-2D, 1000
training trajectories, 500 epochs, full 40-step unrolled training): test rel. L2 0.0128 over the
40 predicted frames.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import date
from pathlib import Path

import torch

from pdesolve.config import load_case
from pdesolve.engines.runs import RunDir
from pdesolve.engines.train import train_case

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=200)
    ap.add_argument("--n-test", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--unroll", type=int, default=1, help="training steps unrolled (paper: 40)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--solver-resolution", type=int, default=64)
    ap.add_argument("--workdir", default="benchmarks/out/fno_navier_stokes")
    ap.add_argument("--resume", default=None, help="an interrupted run directory to continue")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("PDESOLVE_PROGRESS", "0")
    work = Path(args.workdir)
    overrides = [
        f"problem.resolution={args.solver_resolution}", "problem.dt=0.02",
        f"data.n_train={args.n_train}", "data.n_val=20", f"data.n_test={args.n_test}",
        f"data.cache_dir={work}/data", f"output.runs_dir={work}/runs",
        f"train.epochs={args.epochs}", f"train.unroll={args.unroll}", f"train.threads={args.threads}",
        "train.schedule=cosine", "train.lr=3e-3", "train.batch_size=20", "rollout.steps=40",
    ]
    case = load_case("navier_stokes_2d", overrides)
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    if args.resume:
        summary = train_case(device="cpu", resume=args.resume)
    else:
        summary = train_case(case, device="cpu")
    wall = time.perf_counter() - t0
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0
    epochs = [json.loads(x) for x in (summary.run_dir / "metrics.jsonl").read_text().splitlines()]
    per_epoch = sum(e["seconds"] for e in epochs) / len(epochs)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared",
        "threads": args.threads,
        "command": "python benchmarks/fno_navier_stokes.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("workdir", "resume")),
        "n_train": args.n_train, "n_test": args.n_test, "epochs": args.epochs, "unroll": args.unroll,
        "parameters": RunDir.open(summary.run_dir).load_solver().n_parameters(),
        "test_one_step_rel_l2": summary.test["test_rel_l2"],
        "rollout_rel_l2_40_frames": summary.rollout["rollout_rel_l2"],
        "final_step_rel_l2": summary.rollout["final_step_rel_l2"],
        "seconds_per_epoch_wall": per_epoch,
        "total_wall_s": wall, "total_cpu_s": cpu,
        "paper_rel_l2": 0.0128, "paper_n_train": 1000, "paper_epochs": 500,
        "run_dir": str(summary.run_dir),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fno_navier_stokes.json").write_text(json.dumps(result, indent=2))
    windows = "one-step (teacher-forced) windows" if args.unroll == 1 else f"{args.unroll}-step unrolled windows"
    ours = (f"| FNO-2D, pdesolve (this run) | {args.n_train} | {args.epochs} "
            f"| {result['rollout_rel_l2_40_frames']:.4f} "
            f"| {result['test_one_step_rel_l2']:.4f} | {per_epoch:.1f} (wall, shared box) |")
    md = f"""## FNO on 2-D Navier-Stokes, nu = 1e-3 (issue 2 benchmark)

{result['date']}, {result['machine']}, {args.threads} torch thread(s), CPU.
Command: `{result['command']}`

Data: our pseudo-spectral solver ({args.solver_resolution}^2, IF-RK4, dt 0.02, float32), stored at
64x64, t = 0..50; 10 input frames (t = 0..9) -> 40 predicted frames (t = 10..49).
FNO-2D as in the paper (width 20, 12 modes, 4 layers; {result['parameters']:,} parameters), trained
{args.epochs} epochs on {args.n_train} trajectories with {windows}.

| | training trajectories | epochs | test rel. L2 over the 40 predicted frames | one-step rel. L2 | s / epoch |
|---|---|---|---|---|---|
| FNO-2D, paper (Li et al. 2021) | 1000 | 500 | 0.0128 | - | 127.8 (GPU, their figure) |
{ours}

Rollout error is the relative L2 over the 40 predicted frames per test sample, averaged
over {args.n_test} test trajectories (the paper's convention); the final-step error is
{result['final_step_rel_l2']:.4f}.
"""
    if args.resume:
        md += (f"\nThe run was interrupted and continued with `--resume {args.resume}` (the engine's resume "
               "reaches the same weights as an uninterrupted run on the CPU).\n")
    (RESULTS / "fno_navier_stokes.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
